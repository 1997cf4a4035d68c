"""One log line for a lost database, not two tracebacks and a dozen pool warnings.

When its database restarts, a worker stops (a supervisor starts it again): Procrastinate logs the
side task that failed with its traceback, logs the same error again with another traceback while
it shuts down, and psycopg's pool warns at every reconnection attempt meanwhile. This filter, on
the console handler (settings.LOGGING), turns the first of those records into one line that says
what happened and what comes next, and drops the rest of that outage's echoes (for a minute:
the worker is gone by then). Any other record, a job's own error included, passes untouched.
"""

from __future__ import annotations

import logging
import time

import psycopg

LOST_DATABASE = "lost the database (%s): the worker stops, and its supervisor starts it again"
# The worker's own records (its side tasks, their clean-up), not a job's ("procrastinate.worker").
WORKER_LOGGERS = ("procrastinate.worker.worker", "procrastinate.utils")
# What a worker says while it stops; after the one line above it says nothing new.
STOPPING_LINES = ("Stop requested", "Stopped worker on ")
ECHO_SECONDS = 60.0


def database_error_in(record: logging.LogRecord) -> psycopg.OperationalError | None:
    """The connection-level error behind the record's exception, if there is one."""
    error = record.exc_info[1] if record.exc_info else None
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, psycopg.OperationalError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def _reason(error: psycopg.OperationalError) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    first = lines[0] if lines else type(error).__name__
    # libpq's "connection to server on socket ... failed: FATAL: ..." ends with what counts.
    return first.rsplit(" failed: ", 1)[-1]


class DatabaseLossFilter(logging.Filter):
    """Keeps one line per lost database in a process's log (see the module's docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.lost_at: float | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "psycopg.pool" and record.levelno == logging.WARNING:
            return False  # a reconnection attempt: the error that matters is logged by its user
        if record.name not in WORKER_LOGGERS:
            return True
        echoing = self.lost_at is not None and time.monotonic() - self.lost_at < ECHO_SECONDS
        error = database_error_in(record)
        if error is not None:
            if echoing:
                return False
            self.lost_at = time.monotonic()
            record.msg, record.args = LOST_DATABASE, (_reason(error),)
            record.exc_info, record.exc_text, record.stack_info = None, None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            return True
        if echoing:
            return not record.getMessage().startswith(STOPPING_LINES)
        return True

"""A worker whose database restarts logs one line, not tracebacks and pool warnings."""

from __future__ import annotations

import logging
import sys

import psycopg
from procrastinate.exceptions import ConnectorException

from stats.worker_logs import DatabaseLossFilter


def record(name: str, level: int, message: str, error: BaseException | None) -> logging.LogRecord:
    exc_info = (type(error), error, error.__traceback__) if error is not None else None
    return logging.LogRecord(name, level, __file__, 1, message, None, exc_info)


def lost_connection() -> ConnectorException:
    """What Procrastinate raises when the server shuts down under it: a ConnectorException
    caused by psycopg's OperationalError."""
    try:
        try:
            raise psycopg.OperationalError(
                'connection failed: connection to server on socket "/run/pg/.s.PGSQL.5432" '
                "failed: FATAL:  the database system is shutting down"
            )
        except psycopg.OperationalError as cause:
            raise ConnectorException("Database error.") from cause
    except ConnectorException:
        return sys.exc_info()[1]  # type: ignore[return-value]


def test_a_database_restart_leaves_one_line_per_worker() -> None:
    """The records a worker logged on a database restart (seen: 101 lines, 2 chained tracebacks
    and 11 pool warnings): one warning line without traceback is kept; a job's own error and
    other lines pass."""
    keep = DatabaseLossFilter()
    error = lost_connection()
    side_task = record(
        "procrastinate.worker.worker",
        logging.ERROR,
        "Side task listener failed with exception: Database error., stopping worker",
        error,
    )
    echoes = [
        record("procrastinate.worker.worker", logging.INFO, "Stop requested", None),
        record("procrastinate.utils", logging.ERROR, "listener error: ConnectorException()", error),
        *[
            record("psycopg.pool", logging.WARNING, "error connecting in 'pool-1': ...", None)
            for _ in range(16)
        ],
        record("procrastinate.worker.worker", logging.INFO, "Stopped worker on all queues", None),
    ]
    job_failed = record(
        "procrastinate.worker", logging.ERROR, "Job stats.tasks.calculate_points[3] ended", error
    )

    assert keep.filter(side_task)
    assert [echo for echo in echoes if keep.filter(echo)] == []
    assert keep.filter(job_failed)
    assert job_failed.exc_info is not None  # a job's error keeps its traceback

    assert side_task.exc_info is None
    assert side_task.levelname == "WARNING"
    assert side_task.getMessage() == (
        "lost the database (FATAL:  the database system is shutting down): the worker stops,"
        " and its supervisor starts it again"
    )

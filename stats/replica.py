"""Public reads on a streaming replica: how far behind it is, which server a public read uses,
and the router that carries that choice to the ORM.

The choice is explicit and made at one boundary: the league's public views are wrapped in
`public_read`, which picks the replica while it serves (reachable, in recovery, and no further
behind than STATS_REPLICA_MAX_LAG) and the primary otherwise. `PublicReadRouter` acts only
inside such a read, and only on the league's own tables, so the admin, the cron endpoint, jobs,
sessions, logins and `/health`'s queue figures stay on the primary whatever they query.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ParamSpec

from django.conf import settings
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    InterfaceError,
    OperationalError,
    connection,
    connections,
    transaction,
)
from django.db.models import Model
from django.http import HttpResponse

logger = logging.getLogger(__name__)

PRIMARY = DEFAULT_DB_ALIAS
REPLICA = "replica"
# The tables a public read may take from the replica: the league's (boards, competitions,
# matches, predictions, refresh times). Users, sessions and everything else stay on the primary.
REPLICATED_APP = "stats"

_reading_from: ContextVar[str | None] = ContextVar("stats_public_read_alias", default=None)


# --- The replica -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplicaStatus:
    """The replica's state (`serving`, `unreachable`, `behind`, `not in recovery`), its replay
    lag, and why it does not serve the public reads (in general terms: never a host, port or
    database name)."""

    state: str
    lag_seconds: float | None
    reason: str | None = None

    @property
    def serving_reads(self) -> bool:
        return self.state == "serving"


def replica_lag(*, using: str, settle: float = 0.1) -> float | None:
    """Seconds the replica `using` trails the primary; None when that server is not in recovery.

    An idle primary writes no commits, so the replica's last replayed commit grows old while
    nothing is missing: the lag is 0 once the replica has replayed the WAL the primary has
    flushed (what it can stream, every commit included), read first, then polled for up to
    `settle` seconds, which covers a commit the replica is a few milliseconds from replaying.
    Still behind after that, the lag is the age of the last commit it replayed. Without the
    primary (unreachable), the position compared is what the replica has received. Raises
    DatabaseError when the replica cannot be reached.
    """
    primary_lsn = None
    with contextlib.suppress(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('statement_timeout', '2s', true)")
        cursor.execute("SELECT pg_current_wal_flush_lsn()::text")
        (primary_lsn,) = cursor.fetchone()
    deadline = time.monotonic() + settle
    replica = connections[using]
    while True:
        with transaction.atomic(using=using), replica.cursor() as cursor:
            cursor.execute("SELECT set_config('statement_timeout', '2s', true)")
            cursor.execute(
                "SELECT pg_is_in_recovery(),"
                " pg_wal_lsn_diff(COALESCE(%s::pg_lsn, pg_last_wal_receive_lsn()),"
                "                 pg_last_wal_replay_lsn()) <= 0,"
                " EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())",
                [primary_lsn],
            )
            in_recovery, caught_up, replayed_commit_age = cursor.fetchone()
        if not in_recovery:
            return None
        if caught_up:
            return 0.0
        if time.monotonic() >= deadline:
            return max(settle, float(replayed_commit_age or 0.0))
        time.sleep(0.01)


def replica_status(*, using: str, max_lag: float) -> ReplicaStatus:
    """Measure the replica now: it serves while reachable, in recovery and within `max_lag` s."""
    try:
        lag = replica_lag(using=using)
    except DatabaseError:
        connections[using].close()  # a broken connection must not be reused by the next check
        return ReplicaStatus("unreachable", None, "replica unreachable")
    if lag is None:
        return ReplicaStatus(
            "not in recovery", None, "replica is not in recovery: promoted, or not a replica"
        )
    if lag > max_lag:
        return ReplicaStatus(
            "behind", lag, f"replica is {lag:.0f} s behind the primary (limit {max_lag:.0f} s)"
        )
    return ReplicaStatus("serving", lag)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


class ReplicaMonitor:
    """This process's view of the replica, measured at most once per STATS_REPLICA_CHECK_INTERVAL.

    A change of state (serving, unreachable, behind...) is logged once, not on every request.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._status: ReplicaStatus | None = None
        self._checked_at = 0.0

    def check(self) -> ReplicaStatus:
        """Measure the replica now, and record the result as this process's state."""
        status = replica_status(using=REPLICA, max_lag=settings.STATS_REPLICA_MAX_LAG)
        self._record(status)
        return status

    def serving(self) -> bool:
        """Whether public reads go to the replica now; re-measured once the state is old.

        One thread measures while the others keep the last state, so a slow replica delays
        one request per interval, not every one.
        """
        interval = settings.STATS_REPLICA_CHECK_INTERVAL
        due = self._status is None or time.monotonic() - self._checked_at >= interval
        if due and self._lock.acquire(blocking=self._status is None):
            try:
                self.check()
            finally:
                self._lock.release()
        return self._status is not None and self._status.serving_reads

    def _record(self, status: ReplicaStatus) -> None:
        before, self._status, self._checked_at = self._status, status, time.monotonic()
        if before is not None and before.state == status.state:
            return
        if status.serving_reads:
            logger.info("public reads are served by the replica (lag %.1f s)", status.lag_seconds)
        else:
            logger.warning("public reads fall back to the primary: %s", status.reason)

    def reset(self) -> None:
        """Forget the state (tests, or a process that changed its replica)."""
        with self._lock:
            self._status, self._checked_at = None, 0.0


replica_monitor = ReplicaMonitor()


@contextmanager
def reading_from(alias: str) -> Iterator[None]:
    """Run the block's reads of the league's tables on `alias`."""
    token = _reading_from.set(alias)
    try:
        yield
    finally:
        _reading_from.reset(token)


def public_read_alias() -> str:
    """The server a public read uses now: the replica while it serves, else the primary."""
    if replica_configured() and replica_monitor.serving():
        return REPLICA
    return PRIMARY


P = ParamSpec("P")


def public_read(view: Callable[P, HttpResponse]) -> Callable[P, HttpResponse]:
    """A public, read-only view whose league reads go to the replica while it serves.

    Should the replica fail during the request (it stopped since the last check, or a query was
    cancelled by a conflict with recovery), the view runs again on the primary: it only reads,
    so running it twice is safe, and the visitor gets an answer rather than a 503.
    """

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        alias = public_read_alias()
        if alias == PRIMARY:
            return view(*args, **kwargs)
        try:
            with reading_from(alias):
                return view(*args, **kwargs)
        except (OperationalError, InterfaceError) as exc:
            connections[alias].close()
            if replica_monitor.check().serving_reads:  # else the change of state was logged
                logger.warning(
                    "a public read failed (%s) while the replica served; running it again on "
                    "the primary",
                    type(exc).__name__,
                )
            return view(*args, **kwargs)

    return wrapper


class PublicReadRouter:
    """Inside a public read, the league's tables are read from the alias it chose; every write
    goes to the primary, and a public read that writes reads its own writes from the primary
    from then on. Outside a public read, the router has no opinion on reads."""

    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        alias = _reading_from.get()
        if alias is None or model._meta.app_label != REPLICATED_APP:
            return None
        return alias

    def db_for_write(self, model: type[Model], **hints: Any) -> str:
        # An instance read from the replica would otherwise be saved back to it.
        if _reading_from.get() not in (None, PRIMARY):
            _reading_from.set(PRIMARY)
        return PRIMARY

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        # The replica holds the primary's rows: an object read from either may point at the other.
        if {obj1._state.db, obj2._state.db} <= {PRIMARY, REPLICA}:
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        # A replica is read-only; it gets its schema from the primary's WAL.
        return False if db == REPLICA else None

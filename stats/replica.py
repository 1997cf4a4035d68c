"""Public reads on a streaming replica: which server a public read uses, and the router that
carries that choice to the ORM.

The choice is explicit and made at one boundary: the league's public views are wrapped in
`public_read`, which picks the replica while it serves (reachable, in recovery, and no further
behind than STATS_REPLICA_MAX_LAG) and the primary otherwise. `PublicReadRouter` acts only
inside such a read, and only on the league's own tables, so the admin, the cron endpoint, jobs,
sessions, logins and `/health`'s queue figures stay on the primary whatever they query.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections
from django.db.models import Model
from django.http import HttpResponse

from stats.monitoring import ReplicaStatus, replica_status

logger = logging.getLogger(__name__)

PRIMARY = DEFAULT_DB_ALIAS
REPLICA = "replica"
# The tables a public read may take from the replica: the league's (boards, competitions,
# matches, predictions, refresh times). Users, sessions and everything else stay on the primary.
REPLICATED_APP = "stats"

_reading_from: ContextVar[str | None] = ContextVar("stats_public_read_alias", default=None)


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

"""The operator's reads: the job queue, how fresh the statistics are, health.

Ages are measured against one `now` per call. Everything here is bounded: a health check that
hangs is worse than one that fails.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.migrations.loader import MigrationLoader
from django.db.models import Count, Min, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from procrastinate.contrib.django.models import (
    ProcrastinateEvent,
    ProcrastinateJob,
    ProcrastinateWorker,
)

from stats.jobs import CALCULATE_POINTS, REFRESH_STATS_VIEWS
from stats.models import Match, ViewRefresh
from stats.relations import STATS_RELATIONS

logger = logging.getLogger(__name__)

# Procrastinate's job statuses, in the order a job lives through them.
JOB_STATUSES: tuple[str, ...] = tuple(ProcrastinateJob.STATUSES)
# The statuses of jobs still in the queue: waiting, or taken by a worker.
QUEUED_STATUSES: tuple[str, ...] = ("todo", "doing")


# Every operator read runs under this statement timeout: a probe or a scrape that hangs is worse
# than one that fails, and must never hold the database's attention for long.
STATEMENT_TIMEOUT_MS = 5000


@contextmanager
def bounded_queries() -> Iterator[None]:
    """A transaction whose statements are cancelled after STATEMENT_TIMEOUT_MS each."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('statement_timeout', %s, true)", [str(STATEMENT_TIMEOUT_MS)]
        )
        yield


# --- Queue health ------------------------------------------------------------------------------


def _age_seconds(since: datetime | None, now: datetime) -> float | None:
    return None if since is None else max(0.0, (now - since).total_seconds())


def queue_depth() -> dict[str, int]:
    """Jobs still queued, by status (`todo` waiting, `doing` running); cheap: a partial index."""
    counts = dict(
        ProcrastinateJob.objects.filter(status__in=QUEUED_STATUSES)
        .values_list("status")
        .annotate(jobs=Count("id"))
        .values_list("status", "jobs")
    )
    return {status: counts.get(status, 0) for status in QUEUED_STATUSES}


def jobs_by_task_and_status(*, statuses: Sequence[str] | None = None) -> dict[tuple[str, str], int]:
    """Jobs counted by (task name, status): every job, or those in `statuses` only.

    Every job means a scan of the whole table (finished jobs are kept for days); the queued
    statuses are read through Procrastinate's partial index of `todo` and `doing` jobs.
    """
    found = ProcrastinateJob.objects.all()
    if statuses is not None:
        found = found.filter(status__in=statuses)
    return {
        (task_name, status): jobs
        for task_name, status, jobs in found.values_list("task_name", "status")
        .annotate(jobs=Count("id"))
        .values_list("task_name", "status", "jobs")
        .order_by("task_name", "status")
    }


def last_job_id() -> int:
    """The newest job's id (0 when there is none): count from here what a run queues."""
    return ProcrastinateJob.objects.order_by("-id").values_list("id", flat=True).first() or 0


def jobs_queued_after(job_id: int, *, task_name: str) -> int:
    """Jobs of `task_name` newer than `job_id` still waiting or running."""
    return ProcrastinateJob.objects.filter(
        id__gt=job_id, task_name=task_name, status__in=QUEUED_STATUSES
    ).count()


@dataclass(frozen=True)
class JobsEnded:
    scorings: int
    refreshes: int
    failed: int


def jobs_ended_after(job_id: int) -> JobsEnded:
    """Jobs newer than `job_id` that ended: scorings and refreshes that succeeded, and failures."""
    counts = ProcrastinateJob.objects.filter(id__gt=job_id).aggregate(
        scorings=Count("id", filter=Q(task_name=CALCULATE_POINTS, status="succeeded")),
        refreshes=Count("id", filter=Q(task_name=REFRESH_STATS_VIEWS, status="succeeded")),
        failed=Count("id", filter=Q(status="failed")),
    )
    return JobsEnded(**counts)


def oldest_due_job_age(*, now: datetime | None = None) -> float | None:
    """Seconds the longest-waiting due job (`todo`, scheduled_at unset or past) has waited.

    A job scheduled for later is not late. A due job waits from its scheduled time or, if it has
    none, from its latest (re-)deferral, which only Procrastinate's events record.
    """
    now = now or timezone.now()
    deferred_at = (
        ProcrastinateEvent.objects.filter(
            job_id=OuterRef("pk"), type__in=("deferred", "deferred_for_retry", "retried")
        )
        .order_by("-at")
        .values("at")[:1]
    )
    oldest = (
        ProcrastinateJob.objects.filter(status="todo")
        .filter(Q(scheduled_at__isnull=True) | Q(scheduled_at__lte=now))
        .annotate(waiting_since=Coalesce("scheduled_at", Subquery(deferred_at)))
        .aggregate(oldest=Min("waiting_since"))["oldest"]
    )
    return _age_seconds(oldest, now)


def due_job_waits(*, now: datetime | None = None) -> bool:
    """Whether any job waits (`todo`) whose time has come: stops at the first one found, so its
    cost does not grow with the backlog."""
    now = now or timezone.now()
    return (
        ProcrastinateJob.objects.filter(status="todo")
        .filter(Q(scheduled_at__isnull=True) | Q(scheduled_at__lte=now))
        .exists()
    )


def due_jobs_count(*, now: datetime | None = None) -> int:
    """Jobs waiting (`todo`) whose time has come: what a live worker would be running now."""
    now = now or timezone.now()
    return (
        ProcrastinateJob.objects.filter(status="todo")
        .filter(Q(scheduled_at__isnull=True) | Q(scheduled_at__lte=now))
        .count()
    )


def live_workers_count(*, now: datetime | None = None) -> int:
    """Workers whose heartbeat is younger than STATS_STALLED_WORKER_TIMEOUT.

    A worker that stopped cleanly removes its row; one that died keeps it until its heartbeat
    goes stale (and the next worker to start prunes it), so only the age of the beat tells.
    """
    now = now or timezone.now()
    beaten_since = now - timedelta(seconds=settings.STATS_STALLED_WORKER_TIMEOUT)
    return ProcrastinateWorker.objects.filter(last_heartbeat__gte=beaten_since).count()


def failed_jobs_count(*, since: timedelta = timedelta(days=1), now: datetime | None = None) -> int:
    """Jobs that failed for good (no retry left) within `since`, and are failed still.

    Read from the window's failure events through their own index (migration 0010), never from
    every job: Procrastinate indexes neither its jobs by status `failed` nor its events by time.
    """
    window_start = (now or timezone.now()) - since
    return (
        ProcrastinateEvent.objects.filter(type="failed", at__gte=window_start, job__status="failed")
        .values("job_id")
        .distinct()
        .count()
    )


@dataclass(frozen=True)
class QueueReport:
    jobs: dict[tuple[str, str], int]
    oldest_due_job_age: float | None
    failed_last_day: int
    live_workers: int
    jobs_by_status: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        by_status = dict.fromkeys(JOB_STATUSES, 0)
        for (_task, status), jobs in self.jobs.items():
            by_status[status] = by_status.get(status, 0) + jobs
        object.__setattr__(self, "jobs_by_status", by_status)


def queue_report(
    *, now: datetime | None = None, statuses: Sequence[str] | None = None
) -> QueueReport:
    """Everything about the queue an operator looks at: counts (of jobs in `statuses`, or of
    every job), lag, recent failures."""
    now = now or timezone.now()
    return QueueReport(
        jobs=jobs_by_task_and_status(statuses=statuses),
        oldest_due_job_age=oldest_due_job_age(now=now),
        failed_last_day=failed_jobs_count(now=now),
        live_workers=live_workers_count(now=now),
    )


# --- Freshness ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ViewFreshness:
    view_name: str
    refreshed_at: datetime | None
    age: float | None
    duration_ms: int | None


@dataclass(frozen=True)
class Freshness:
    stale_matches: int
    oldest_stale_age: float | None
    views: list[ViewFreshness]


def stale_points(*, now: datetime | None = None) -> tuple[int, float | None]:
    """Settled matches whose points are missing or older than their result, and the age of the
    oldest such result in seconds (None when there is none)."""
    now = now or timezone.now()
    stale = (
        Match.objects.settled()
        .with_stale_points()
        .aggregate(matches=Count("id"), oldest=Min("completed_at"))
    )
    return stale["matches"], _age_seconds(stale["oldest"], now)


def view_freshness(*, now: datetime | None = None) -> list[ViewFreshness]:
    """Each stats view's last refresh, its age in seconds and how long it took."""
    now = now or timezone.now()
    refreshes = {refresh.view_name: refresh for refresh in ViewRefresh.objects.all()}
    views = []
    for relation in STATS_RELATIONS:
        refresh = refreshes.get(relation.name)
        views.append(
            ViewFreshness(
                view_name=relation.name,
                refreshed_at=refresh.refreshed_at if refresh else None,
                age=_age_seconds(refresh.refreshed_at if refresh else None, now),
                duration_ms=refresh.duration_ms if refresh else None,
            )
        )
    return views


def freshness(*, now: datetime | None = None) -> Freshness:
    """How far the stats lag behind the results: stale points and each view's last refresh."""
    now = now or timezone.now()
    stale_matches, oldest_stale_age = stale_points(now=now)
    return Freshness(stale_matches, oldest_stale_age, view_freshness(now=now))


# --- The database's state ----------------------------------------------------------------------

DATABASE_OK = "ok"
DATABASE_UNREACHABLE = "unreachable"
DATABASE_NOT_MIGRATED = "not migrated"
DATABASE_TOO_SLOW = "too slow"

# The public reasons for each state: general terms, never a host, port, path, role or database.
_DATABASE_REASONS = {
    DATABASE_UNREACHABLE: "database unreachable",
    DATABASE_NOT_MIGRATED: "database not migrated",
    DATABASE_TOO_SLOW: "database too slow to answer",
}


@functools.cache
def _code_migrations() -> tuple[tuple[tuple[str, str], frozenset[tuple[str, str]]], ...]:
    """The latest migration of each app in this code, with the migrations it replaces (a
    squashed one counts as applied when everything it replaces is). Read from disk once."""
    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    return tuple(
        (key, frozenset(tuple(replaced) for replaced in graph.nodes[key].replaces))
        for key in sorted(graph.leaf_nodes())
    )


def migrations_applied() -> bool:
    """Whether the database has every migration of this code: two small reads of a small table.

    A database that answers without the project's tables (a fresh one, or a release whose
    `migrate` has not run) is "not migrated", not "unreachable": the way out differs.
    Raises DatabaseError when the database cannot be reached.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('django_migrations') IS NOT NULL")
        (exists,) = cursor.fetchone()
        if not exists:
            return False
        cursor.execute("SELECT app, name FROM django_migrations")
        applied = {(app, name) for app, name in cursor.fetchall()}
    return all(
        key in applied or (replaces and replaces <= applied) for key, replaces in _code_migrations()
    )


def _unreachable(exc: DatabaseError) -> Health:
    # The error names the server tried (host, port, data folder, role): for the log only.
    logger.warning("health check: database unreachable: %s", exc)
    slow = isinstance(exc.__cause__, psycopg.errors.QueryCanceled)
    state = DATABASE_TOO_SLOW if slow else DATABASE_UNREACHABLE
    return Health(database=state, reasons=[_DATABASE_REASONS[state]])


def _not_migrated() -> Health:
    logger.warning(
        "health check: the database answers but lacks this code's migrations: run "
        "`manage.py migrate`"
    )
    return Health(
        database=DATABASE_NOT_MIGRATED, reasons=[_DATABASE_REASONS[DATABASE_NOT_MIGRATED]]
    )


# --- Health ------------------------------------------------------------------------------------

# The contract's promise: a result shows in the points and on the boards within an hour.
STATS_MAX_LAG = 3600
NO_LIVE_WORKER = "no live worker"


def unrefreshed_points_age(
    *, last_refresh: datetime | None, now: datetime | None = None
) -> float | None:
    """Seconds since the earliest scoring that no view refresh has followed yet (None if none)."""
    now = now or timezone.now()
    scored = Match.objects.filter(points_calculated_at__isnull=False)
    if last_refresh is not None:
        scored = scored.filter(points_calculated_at__gt=last_refresh)
    return _age_seconds(scored.aggregate(oldest=Min("points_calculated_at"))["oldest"], now)


@dataclass(frozen=True)
class Health:
    database: str
    reasons: list[str]
    queue_depth: dict[str, int] = field(default_factory=dict)
    oldest_due_job_age: float | None = None
    stale_matches: int | None = None
    oldest_stale_age: float | None = None
    last_refresh_age: float | None = None
    unrefreshed_points_age: float | None = None
    live_workers: int | None = None

    @property
    def ok(self) -> bool:
        return not self.reasons

    @property
    def database_ok(self) -> bool:
        return self.database == DATABASE_OK


def public_health() -> Health:
    """What anyone may know (a load balancer's probe): the database answers with this code's
    migrations, and a worker is alive while jobs are due. At most four small statements whose
    cost does not grow with the backlog, the players or the matches: live workers are a handful
    of rows, and the due jobs are only looked for (one row) when no worker is alive.
    """
    try:
        with bounded_queries():
            if not migrations_applied():
                return _not_migrated()
            live_workers = live_workers_count()
            stalled = live_workers == 0 and due_job_waits()
    except DatabaseError as exc:
        return _unreachable(exc)
    return Health(
        database=DATABASE_OK, reasons=[NO_LIVE_WORKER] if stalled else [], live_workers=live_workers
    )


def health_check(*, max_queue_age: float, max_lag: float = STATS_MAX_LAG) -> Health:
    """Whether the database answers and the pipeline keeps up, with the reasons when not: the
    operator's check, with every figure (the public one is `public_health`).

    A handful of small queries, each bounded by a statement timeout: a health check that hangs
    is worse than one that fails. Never raises for a database that is down or too slow.

    The reasons say what is wrong in general terms and never name a host, port, path, role or
    database. The details go to the log.
    """
    now = timezone.now()
    try:
        with bounded_queries():
            if not migrations_applied():
                return _not_migrated()
            depth = queue_depth()
            oldest_job = oldest_due_job_age(now=now)
            stale_matches, oldest_stale = stale_points(now=now)
            last_refresh = ViewRefresh.objects.refreshed_through(
                relation.name for relation in STATS_RELATIONS
            )
            unrefreshed = unrefreshed_points_age(last_refresh=last_refresh, now=now)
            due_jobs = due_jobs_count(now=now)
            live_workers = live_workers_count(now=now)
    except DatabaseError as exc:
        return _unreachable(exc)

    reasons = []
    if due_jobs and not live_workers:
        reasons.append(
            f"{NO_LIVE_WORKER}: {due_jobs} due job(s) wait and no worker has beaten within "
            f"{settings.STATS_STALLED_WORKER_TIMEOUT:.0f} s"
        )
    if oldest_job is not None and oldest_job > max_queue_age:
        reasons.append(
            f"a due job has waited {oldest_job:.0f} s (limit {max_queue_age:.0f} s): "
            "are the workers running?"
        )
    if oldest_stale is not None and oldest_stale > max_lag:
        reasons.append(
            f"{stale_matches} match(es) have stale points, the oldest for {oldest_stale:.0f} s "
            f"(limit {max_lag:.0f} s)"
        )
    if unrefreshed is not None and unrefreshed > max_lag:
        reasons.append(
            f"points scored {unrefreshed:.0f} s ago are not in the views yet "
            f"(limit {max_lag:.0f} s): is the refresh job failing?"
        )
    last_refresh_age = None if last_refresh is None else _age_seconds(last_refresh, now)
    return Health(
        database=DATABASE_OK,
        reasons=reasons,
        queue_depth=depth,
        oldest_due_job_age=oldest_job,
        stale_matches=stale_matches,
        oldest_stale_age=oldest_stale,
        last_refresh_age=last_refresh_age,
        unrefreshed_points_age=unrefreshed,
        live_workers=live_workers,
    )

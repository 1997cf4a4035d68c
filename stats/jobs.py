"""The one door to the queue: enqueueing the stats jobs, always through Django's connection and
transaction, and the queue's own reads that the writers need (the operator's reads are in
stats/monitoring.py; nothing else reads Procrastinate's tables).

Procrastinate's own `task.defer()` uses the app's connector, which inside a worker is a separate
pool: a job deferred from a task would commit on its own. Deferring through a job manager built
on `DjangoConnector` puts the job in the caller's transaction, in every context (request, admin,
shell, another task): it commits with the caller's writes or not at all.
"""

from __future__ import annotations

import enum
import functools
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from django.db import connection, transaction
from django.db.models import Max, QuerySet
from django.utils import timezone
from procrastinate import sql
from procrastinate.contrib.django import app
from procrastinate.contrib.django.django_connector import DjangoConnector
from procrastinate.contrib.django.models import (
    ProcrastinateEvent,
    ProcrastinateJob,
    ProcrastinateWorker,
)
from procrastinate.exceptions import AlreadyEnqueued, ConnectorException
from procrastinate.manager import JobManager
from procrastinate.tasks import configure_task

logger = logging.getLogger(__name__)

CALCULATE_POINTS = "stats.tasks.calculate_points"
REFRESH_STATS_VIEWS = "stats.tasks.refresh_stats_views"
STATS_QUEUE = "stats"
# One lock serves as both queueing lock (at most one waiting) and lock (at most one running).
REFRESH_LOCK = "stats-refresh"


class Priority(enum.IntEnum):
    """Procrastinate's job `priority`: among due jobs, higher runs first (then oldest first).

    Points come before ranks: every scoring that is due runs before the refresh, so a refresh
    never ranks boards without results that were already waiting. A result that just arrived is
    what users wait for, so it outranks re-scoring that only mends or re-checks points.
    """

    FRESH_RESULT = 20  # a match settled for the first time
    RESCORING = 10  # a correction, a void or withdrawn result, the sweep, a manual recalculation
    REFRESH = 0  # the batched re-ranking, and the housekeeping tasks (Procrastinate's default)


def match_scoring_lock(match_id: int) -> str:
    return f"match-scoring:{match_id}"


@functools.cache
def _job_manager() -> JobManager:
    return JobManager(DjangoConnector())


def _defer(
    task_name: str,
    lock: str,
    *,
    priority: Priority,
    delay_seconds: float = 0,
    **task_kwargs: int,
) -> int | None:
    """Defer a job in the current transaction; None when one with its lock already waits.

    The savepoint matters: AlreadyEnqueued is a unique violation, which would otherwise abort
    the caller's whole transaction.
    """
    deferrer = configure_task(
        name=task_name,
        job_manager=_job_manager(),
        queue=STATS_QUEUE,
        lock=lock,
        queueing_lock=lock,
        priority=priority,
        schedule_at=timezone.now() + timedelta(seconds=delay_seconds) if delay_seconds else None,
        task_kwargs=dict(task_kwargs),
    )
    try:
        with transaction.atomic():
            return deferrer.defer()
    except AlreadyEnqueued:
        return None


def enqueue_match_scoring(match_id: int, *, priority: Priority = Priority.RESCORING) -> int | None:
    """Queue `calculate_points` for a match; None when one already waits for it.

    The waiting job scores from the latest result whenever it runs, so it covers this request
    too, whatever the two priorities.
    """
    return _defer(
        CALCULATE_POINTS, match_scoring_lock(match_id), priority=priority, match_id=match_id
    )


def enqueue_stats_refresh(*, delay_seconds: float) -> int | None:
    """Queue a view refresh after `delay_seconds`; None when one already waits.

    A waiting refresh, due sooner or later, will see every write committed before it starts,
    so the caller's trigger is covered either way: a burst of triggers costs one refresh.
    """
    return _defer(
        REFRESH_STATS_VIEWS, REFRESH_LOCK, priority=Priority.REFRESH, delay_seconds=delay_seconds
    )


@dataclass(frozen=True)
class RefreshRequest:
    status: Literal["queued", "already_queued"]
    job_id: int


@transaction.atomic
def request_stats_refresh_now() -> RefreshRequest:
    """Make a view refresh due now: reuse a due one, bring a delayed one forward, or queue one.

    Procrastinate has no call to reschedule a job, so a delayed one is replaced (deleted and
    deferred anew, in this transaction) by one due now; a worker hears of the insert at once.
    """
    with connection.cursor() as cursor:
        # The same lock the queueing-lock guard takes (stats/sql/migrations/0013_*): no defer,
        # retry or concurrent request of this lock can interleave with the steps below.
        cursor.execute("SELECT stats_lock_queueing_lock(%s)", [REFRESH_LOCK])
    waiting = ProcrastinateJob.objects.filter(queueing_lock=REFRESH_LOCK, status="todo").first()
    due_now = waiting is not None and (
        waiting.scheduled_at is None or waiting.scheduled_at <= timezone.now()
    )
    if waiting is not None and due_now:
        return RefreshRequest("already_queued", waiting.id)
    if waiting is not None:
        _job_manager().cancel_job_by_id(waiting.id, delete_job=True)
    job_id = enqueue_stats_refresh(delay_seconds=0)
    assert job_id is not None, "the refresh lock is held, so no other refresh can be waiting"
    return RefreshRequest("queued", job_id)


def rescue_stalled_jobs(*, seconds_since_heartbeat: float) -> list[int]:
    """Put back in the queue the jobs left running (`doing`) by workers whose heartbeat is older
    than `seconds_since_heartbeat` (a worker SIGKILLed, or its host lost); their ids.

    Heartbeats, not a fixed timeout, so a long refresh on a live worker is never taken from it.
    """
    connector = _job_manager().connector.get_sync_connector()
    stalled = connector.execute_query_all(
        query=sql.queries["select_stalled_jobs_by_heartbeat"],
        queue=None,
        task_name=None,
        seconds_since_heartbeat=seconds_since_heartbeat,
    )
    rescued = []
    for job in stalled:
        try:
            with transaction.atomic():
                _job_manager().retry_job_by_id(job_id=job["id"], retry_at=timezone.now())
        except ConnectorException as exc:  # it ended, or another sweep rescued it, meanwhile
            logger.info("stalled job %d not rescued: %s", job["id"], exc)
            continue
        rescued.append(int(job["id"]))
    if rescued:
        logger.warning("rescued jobs of dead workers: %s", rescued)
        # A retried job fires no notification (only inserts do): wake the idle workers now
        # rather than at their next poll.
        with connection.cursor() as cursor:
            for job_id in rescued:
                payload = json.dumps({"type": "job_inserted", "job_id": job_id})
                cursor.execute("SELECT pg_notify('procrastinate_any_queue_v1', %s)", [payload])
                cursor.execute(
                    "SELECT pg_notify('procrastinate_queue_v1#' || %s, %s)", [STATS_QUEUE, payload]
                )
    return rescued


async def delete_finished_jobs(*, hours: int, include_failed: bool) -> None:
    """Delete the jobs that ended more than `hours` ago: succeeded and cancelled ones, and the
    failed ones too with `include_failed` (on the app's connector, outside any transaction)."""
    await app.job_manager.delete_old_jobs(
        nb_hours=hours, include_failed=include_failed, include_cancelled=True
    )


def refresh_running_since() -> datetime | None:
    """When the refresh running now started, or None when none runs."""
    started: datetime | None = ProcrastinateEvent.objects.filter(
        type="started", job__task_name=REFRESH_STATS_VIEWS, job__status="doing"
    ).aggregate(started=Max("at"))["started"]
    return started


def matches_being_scored() -> set[int]:
    """The matches whose scoring job runs now. Its points will be fresh when it commits, or, if
    the result changed after it started, the save queued a follow-up behind it; a job stalled by
    a dead worker is the rescue's (rescue_stalled_jobs)."""
    return {
        int(args["match_id"])
        for args in ProcrastinateJob.objects.filter(
            task_name=CALCULATE_POINTS, status="doing"
        ).values_list("args", flat=True)
    }


def match_scoring_jobs(match_id: int) -> QuerySet[ProcrastinateJob]:
    """The scoring jobs of one match, newest first."""
    return ProcrastinateJob.objects.filter(
        task_name=CALCULATE_POINTS, args__match_id=match_id
    ).order_by("-id")


def workers_registered() -> int:
    """Workers registered on the database of Django's connection (each does when it starts)."""
    return ProcrastinateWorker.objects.count()

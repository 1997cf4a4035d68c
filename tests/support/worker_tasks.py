"""Tasks that exist only for tests; the test settings make workers import them."""

from __future__ import annotations

import time

from django.db import OperationalError
from procrastinate import JobContext
from procrastinate.contrib.django import app
from procrastinate.contrib.django.models import ProcrastinateJob

from stats.job_errors import record_job_error
from stats.models import Match
from stats.retry import BackoffRetry


class Boom(Exception):
    """A failure raised on purpose."""


@app.task(name="tests.record_result_then", queue="stats")
def record_result_then(match_id: int, home_score: int, away_score: int, fail: bool) -> None:
    """Record a result from inside a running task, then fail if asked to: the scoring job the
    save queues must commit or roll back with this task's transaction."""
    from django.db import transaction

    with transaction.atomic():
        match = Match.objects.get(pk=match_id)
        match.status = Match.Status.COMPLETED
        match.home_score, match.away_score = home_score, away_score
        match.save()
        if fail:
            raise Boom(f"failing after saving match {match_id}")


# A transient error every time, with quick growing waits: retried up to its limit, then failed.
POISON_RETRY = BackoffRetry(max_attempts=4, base_seconds=1, cap_seconds=8)


@app.task(
    name="tests.poison", queue="stats", retry=POISON_RETRY, task_middleware=[record_job_error]
)
def poison(label: str) -> None:
    """Always fails with an error the retry policy calls transient (a database error)."""
    raise OperationalError(f"poison job {label} fails on purpose, every time")


# Quick retries, so a retry happens within a second of the failure.
QUICK_RETRY = BackoffRetry(max_attempts=3, base_seconds=0.2, cap_seconds=1)


@app.task(
    name="tests.wait_for_follow_up",
    queue="stats",
    retry=QUICK_RETRY,
    task_middleware=[record_job_error],
    pass_context=True,
)
def wait_for_follow_up(context: JobContext, then: str) -> None:
    """Wait until a follow-up with this job's queueing lock is queued, then fail with a
    transient error (`then="fail"`, so the worker retries it) or hang (`then="hang"`, until
    the worker is killed). `then="return"` returns at once: what the follow-up does."""
    if then == "return":
        return
    queueing_lock = context.job.queueing_lock
    deadline = time.monotonic() + 60
    while not ProcrastinateJob.objects.filter(queueing_lock=queueing_lock, status="todo").exists():
        if time.monotonic() > deadline:
            raise Boom(f"no follow-up of {queueing_lock} within 60 s")
        time.sleep(0.05)
    if then == "fail":
        raise OperationalError(f"job {context.job.id} fails once its follow-up waits")
    time.sleep(300)

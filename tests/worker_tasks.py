"""Tasks that exist only for tests; the test settings make workers import them."""

from __future__ import annotations

from django.db import OperationalError
from procrastinate.contrib.django import app

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

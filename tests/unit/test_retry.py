from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import InterfaceError, OperationalError
from django.utils import timezone
from procrastinate.jobs import Job

from stats import tasks
from stats.exceptions import MatchNotFound
from stats.retry import BackoffRetry

POLICY = BackoffRetry(max_attempts=5, base_seconds=2, cap_seconds=20)


def job(attempts: int) -> Job:
    return Job(id=1, queue="stats", lock=None, queueing_lock=None, task_name="t", attempts=attempts)


def test_waits_grow_exponentially_with_jitter_and_a_cap() -> None:
    """Each wait lies in [step/2, step] with step = base·2^attempt capped, so waits grow."""
    for attempts, step in enumerate([2, 4, 8, 16, 20, 20]):
        waits = [POLICY.wait_seconds(attempts) for _ in range(200)]
        assert step / 2 <= min(waits) <= max(waits) <= step
        assert max(waits) - min(waits) > step / 10  # jittered, not constant


@pytest.mark.parametrize(
    "error",
    [OperationalError("server closed the connection"), InterfaceError("connection already closed")],
)
def test_transient_errors_are_retried_until_the_last_attempt(error: Exception) -> None:
    """Attempts 0..3 are retried; the fifth attempt (4) is the last."""
    decisions = [POLICY.get_retry_decision(exception=error, job=job(n)) for n in range(5)]
    assert [decision is not None for decision in decisions] == [True, True, True, True, False]


@pytest.mark.parametrize("error", [MatchNotFound("no match 7"), ValueError("bad argument")])
def test_permanent_errors_fail_at_once(error: Exception) -> None:
    """No retry can fix a missing match or a bad argument."""
    assert POLICY.get_retry_decision(exception=error, job=job(0)) is None


def test_a_retry_is_due_after_its_wait() -> None:
    """The decision Procrastinate acts on: the job waits until now + base·2^attempt/2 at the
    earliest and now + base·2^attempt at the latest, on its own queue, lock and priority."""
    for attempts, step in enumerate([2, 4, 8, 16]):
        before = timezone.now()
        decision = POLICY.get_retry_decision(exception=OperationalError("gone"), job=job(attempts))
        assert decision is not None
        assert decision.retry_at is not None
        assert before + timedelta(seconds=step / 2) <= decision.retry_at
        assert decision.retry_at <= timezone.now() + timedelta(seconds=step)
        assert (decision.queue, decision.lock, decision.priority) == (None, None, None)


def test_the_stats_jobs_retry_with_backoff() -> None:
    """Scoring retries from 2 s, the refresh from 5 s, both capped at 5 minutes, 5 attempts."""
    assert tasks.calculate_points.retry_strategy == BackoffRetry(
        max_attempts=5, base_seconds=2, cap_seconds=300
    )
    assert tasks.refresh_stats_views.retry_strategy == BackoffRetry(
        max_attempts=5, base_seconds=5, cap_seconds=300
    )

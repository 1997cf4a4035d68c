from __future__ import annotations

import pytest
from django.db import InterfaceError, OperationalError
from procrastinate.jobs import Job

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

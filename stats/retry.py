"""Retry policy: capped exponential backoff with jitter, for transient errors only."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from django.db import InterfaceError, OperationalError
from django.utils import timezone
from procrastinate import BaseRetryStrategy, RetryDecision
from procrastinate.jobs import Job

# Errors a later attempt can fix: the database restarting or timing out on a lock. Anything else
# (no such match, a broken view) fails at once.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OperationalError, InterfaceError)


@dataclass(frozen=True)
class BackoffRetry(BaseRetryStrategy):
    """Retry transient errors after base·2^attempt seconds, capped, half of it random.

    "Equal jitter": the wait is at least half the exponential step, so waits still grow, and
    the other half is random, so workers that failed together do not retry together.
    """

    max_attempts: int = 5
    base_seconds: float = 2.0
    cap_seconds: float = 300.0

    def wait_seconds(self, attempts: int) -> float:
        step = min(self.cap_seconds, self.base_seconds * 2.0**attempts)
        return step / 2 + random.uniform(0, step / 2)  # noqa: S311  (jitter, not secrecy)

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if not isinstance(exception, TRANSIENT_ERRORS):
            return None
        if job.attempts + 1 >= self.max_attempts:
            return None
        return RetryDecision(
            retry_at=timezone.now() + timedelta(seconds=self.wait_seconds(job.attempts))
        )

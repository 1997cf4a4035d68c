"""A task middleware that keeps each failed attempt's error, for the admin and `stats_status`.

`JobError` has one other writer: the queueing-lock guard (stats/sql/migrations/0013_*), which
records there, in SQL, the job that superseded a job it settled 'cancelled'.
"""

from __future__ import annotations

import logging
import traceback
from datetime import timedelta
from typing import Any

from django.db import DatabaseError
from django.utils import timezone
from procrastinate.job_context import JobContext
from procrastinate.middleware import SyncCallNext
from procrastinate.worker import Worker

from stats.models import JobError

logger = logging.getLogger(__name__)


def record_job_error(call_next: SyncCallNext, context: JobContext, worker: Worker) -> Any:
    try:
        return call_next()
    except Exception as exc:
        job = context.job
        assert job.id is not None, "a job that runs has been saved"
        try:
            JobError.objects.create(
                job_id=job.id,
                task_name=job.task_name,
                attempt=job.attempts,
                error=f"{type(exc).__name__}: {exc}",
                traceback=traceback.format_exc(),
            )
        except DatabaseError:
            # The database may be what failed; the worker's own log line still has the error.
            logger.warning("could not record the error of job %s", job.id, exc_info=True)
        raise


def prune_job_errors(*, older_than_hours: int) -> int:
    """Delete errors recorded more than `older_than_hours` ago (the failed jobs' retention)."""
    deleted, _ = JobError.objects.filter(
        raised_at__lt=timezone.now() - timedelta(hours=older_than_hours)
    ).delete()
    return deleted

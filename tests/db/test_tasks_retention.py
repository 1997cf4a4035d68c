"""The hourly prune: finished jobs go after STATS_JOB_RETENTION_HOURS, failed ones (and the
errors recorded for them) after STATS_FAILED_JOB_RETENTION_DAYS."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob
from pytest_django.fixtures import Settings

from stats.models import JobError
from stats.tasks import prune_finished_jobs

pytestmark = pytest.mark.django_db


def finished_job(status: str, *, hours_ago: float) -> int:
    """A job that reached `status` that long ago (its events say so)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, args, status)"
            " VALUES ('stats', 'stats.tasks.calculate_points', '{}', 'todo') RETURNING id"
        )
        (job_id,) = cursor.fetchone()
        if status != "cancelled":
            cursor.execute("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = %s", [job_id])
        cursor.execute("UPDATE procrastinate_jobs SET status = %s WHERE id = %s", [status, job_id])
        cursor.execute(
            "UPDATE procrastinate_events SET at = now() - %s * interval '1 hour' WHERE job_id = %s",
            [hours_ago, job_id],
        )
    return int(job_id)


def test_prune_keeps_failed_jobs_for_their_own_retention(settings: Settings) -> None:
    """With 72 h and 30 days: succeeded and cancelled jobs older than 72 h go, failed ones stay
    until 30 days; errors recorded more than 30 days ago go with them."""
    settings.STATS_JOB_RETENTION_HOURS = 72
    settings.STATS_FAILED_JOB_RETENTION_DAYS = 30
    kept = [
        finished_job("succeeded", hours_ago=1),
        finished_job("failed", hours_ago=80),
        finished_job("failed", hours_ago=29 * 24),
    ]
    finished_job("succeeded", hours_ago=80)
    finished_job("cancelled", hours_ago=80)
    finished_job("failed", hours_ago=31 * 24)
    old_error = JobError.objects.create(job_id=1, task_name="t", attempt=0, error="e", traceback="")
    recent_error = JobError.objects.create(
        job_id=2, task_name="t", attempt=0, error="e", traceback=""
    )
    JobError.objects.filter(pk=old_error.pk).update(raised_at=timezone.now() - timedelta(days=31))

    result = async_to_sync(prune_finished_jobs.func)(timestamp=0)

    assert sorted(ProcrastinateJob.objects.values_list("id", flat=True)) == sorted(kept)
    assert list(JobError.objects.values_list("pk", flat=True)) == [recent_error.pk]
    assert result == {
        "retention_hours": 72,
        "failed_retention_hours": 720,
        "job_errors_deleted": 1,
    }

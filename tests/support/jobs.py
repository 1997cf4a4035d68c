"""Job rows written and moved the way Procrastinate does, and the jobs a test looks for."""

from __future__ import annotations

from django.db import connection
from procrastinate.contrib.django.models import ProcrastinateJob

from stats import jobs


def insert_job(
    task_name: str = "stats.tasks.refresh_stats_views",
    *,
    status: str = "todo",
    scheduled: str | None = None,
    deferred: str | None = None,
) -> int:
    """A job row as Procrastinate writes it, moved to `status` the way a worker moves it (so its
    triggers record the events). `scheduled` and `deferred` are SQL intervals from now (such as
    "-10 minutes"): its scheduled time, and when it was deferred."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, args, status, scheduled_at)"
            " VALUES ('default', %s, '{}', 'todo', now() + %s::interval) RETURNING id",
            [task_name, scheduled],
        )
        (job_id,) = cursor.fetchone()
        if deferred is not None:
            cursor.execute(
                "UPDATE procrastinate_events SET at = now() + %s::interval WHERE job_id = %s",
                [deferred, job_id],
            )
        for step in {"todo": [], "doing": ["doing"]}.get(status, ["doing", status]):
            cursor.execute(
                "UPDATE procrastinate_jobs SET status = %s WHERE id = %s", [step, job_id]
            )
    return int(job_id)


def jobs_of(task_name: str, *statuses: str) -> list[ProcrastinateJob]:
    """A task's jobs in the order they were deferred: those in `statuses`, or all."""
    found = ProcrastinateJob.objects.filter(task_name=task_name).order_by("id")
    return list(found.filter(status__in=statuses) if statuses else found)


def stats_jobs_pending() -> int:
    """Scoring and refresh jobs still waiting or running."""
    return ProcrastinateJob.objects.filter(
        task_name__in=(jobs.CALCULATE_POINTS, jobs.REFRESH_STATS_VIEWS),
        status__in=("todo", "doing"),
    ).count()


def set_job_status(job_id: int, status: str) -> None:
    """Move a job as a worker would (Procrastinate's triggers record the event)."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE procrastinate_jobs SET status = %s WHERE id = %s", [status, job_id])


def insert_worker(*, last_beat: str = "0 seconds") -> int:
    """A worker row as Procrastinate registers it, whose last heartbeat was `last_beat` ago (an
    SQL interval such as "2 minutes"): a live worker, or one that died without unregistering."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now() - %s::interval)"
            " RETURNING id",
            [last_beat],
        )
        (worker_id,) = cursor.fetchone()
    return int(worker_id)

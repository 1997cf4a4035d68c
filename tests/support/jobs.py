"""Job rows written the way Procrastinate writes them, for tests of the queue's readers."""

from __future__ import annotations

from django.db import connection


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

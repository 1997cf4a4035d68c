"""`manage.py stats_status`: the queue and how fresh the stats are, for an operator."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from django.utils import timezone

from stats import monitoring


def _count(number: int, unit: str, units: str | None = None) -> str:
    return f"{number} {unit if number == 1 else units or unit + 's'}"


def _age(seconds: float | None) -> str:
    return "none" if seconds is None else f"{seconds:.0f} s"


class Command(BaseCommand):
    help = (
        "Report the job queue (jobs by status and task, the oldest waiting job, recent failures) "
        "and the stats' freshness (matches with stale points, each relation's last refresh)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        try:
            queue = monitoring.queue_report(now=now)
            fresh = monitoring.freshness(now=now)
        except DatabaseError as exc:
            # An operator's terminal: the details (which server was tried) are what they need.
            raise CommandError(f"database unreachable: {exc}") from exc
        write = self.stdout.write

        write("Jobs by status:")
        for status, jobs in queue.jobs_by_status.items():
            write(f"  {status:<10} {_count(jobs, 'job')}")
        write("Jobs by task:")
        if not queue.jobs:
            write("  (no jobs)")
        width = max((len(task) for task, _status in queue.jobs), default=0)
        for (task, status), jobs in queue.jobs.items():
            write(f"  {task:<{width}}  {status:<10} {_count(jobs, 'job')}")
        write(
            f"Live workers: {queue.live_workers} (heartbeat within "
            f"{settings.STATS_STALLED_WORKER_TIMEOUT:.0f} s)"
        )
        write(f"Oldest waiting due job: {_age(queue.oldest_due_job_age)}")
        write(f"Failed jobs in the last day: {_count(queue.failed_last_day, 'job')}")
        write(
            f"Matches with stale points: {_count(fresh.stale_matches, 'match', 'matches')}"
            f", oldest {_age(fresh.oldest_stale_age)}"
        )
        write("Statistics:")
        width = max(len(view.view_name) for view in fresh.views)
        for view in fresh.views:
            if view.refreshed_at is None:
                write(f"  {view.view_name:<{width}}  never refreshed")
            else:
                refreshed_at = view.refreshed_at.astimezone(UTC)
                write(
                    f"  {view.view_name:<{width}}  refreshed {refreshed_at:%Y-%m-%d %H:%M:%S} UTC, "
                    f"{_age(view.age)} ago, took {view.duration_ms} ms"
                )

"""`manage.py refresh_stats`: refresh every stats view now, in this process, and time each."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from stats.exceptions import ViewNotRefreshable
from stats.services import stats_views_refresh


class Command(BaseCommand):
    help = (
        "Refresh every stats materialized view CONCURRENTLY (readers never wait), synchronously "
        "in this process, and print how long each took."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        try:
            timings = stats_views_refresh()
        except ViewNotRefreshable as exc:
            raise CommandError(str(exc)) from exc
        total_ms = round((time.perf_counter() - started) * 1000)
        width = max(len(timing.view_name) for timing in timings)
        for timing in timings:
            self.stdout.write(f"{timing.view_name:<{width}}  {timing.duration_ms:>6} ms")
        self.stdout.write(f"{len(timings)} views refreshed in {total_ms} ms")

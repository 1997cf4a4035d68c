"""`manage.py refresh_stats`: bring the statistics up to date now, in this process, timed."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from stats.exceptions import ViewNotRefreshable
from stats.refresh import RefreshStep, stats_refresh


class Command(BaseCommand):
    help = (
        "Consume the changes logged since the last refresh, move every total, count and match "
        "summary by their difference and refresh the rank views CONCURRENTLY (readers never "
        "wait), synchronously in this process; print how long each step took."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        try:
            with steps_printed_not_logged():
                steps = stats_refresh()
        except ViewNotRefreshable as exc:
            raise CommandError(str(exc)) from exc
        print_steps(self, steps, started, "refreshed")


@contextlib.contextmanager
def steps_printed_not_logged() -> Iterator[None]:
    """The refresh logs each step at INFO for the worker's log; a command prints the same steps
    with their durations, so at a terminal (where the log goes to stderr) each step showed twice.
    Inside the command the app's INFO lines are held back; its warnings still show."""
    app_logger = logging.getLogger("stats")
    level = app_logger.level
    app_logger.setLevel(max(logging.WARNING, level))
    try:
        yield
    finally:
        app_logger.setLevel(level)


def print_steps(command: BaseCommand, steps: list[RefreshStep], started: float, done: str) -> None:
    """Each step's duration, then the total."""
    total_ms = round((time.perf_counter() - started) * 1000)
    width = max(len(step.name) for step in steps)
    for step in steps:
        command.stdout.write(f"{step.name:<{width}}  {step.duration_ms:>6} ms")
    command.stdout.write(f"statistics {done} in {total_ms} ms")

"""`manage.py rebuild_stats [--check]`: every statistic from scratch, or a check against it."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from stats.audit import stats_audit
from stats.exceptions import ViewNotRefreshable
from stats.management.commands.refresh_stats import print_steps, steps_printed_not_logged
from stats.monitoring import stale_points
from stats.services import pending_marks, stats_rebuild


class Command(BaseCommand):
    help = (
        "Recompute every total, board and match summary from the predictions, writing only what "
        "differs (safe while workers run). With --check, change nothing: print every difference "
        "between what is stored and a from-scratch recomputation, and exit 1 if there is one."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check", action="store_true", help="compare only; exit 1 on any difference"
        )
        parser.add_argument(
            "--show",
            type=int,
            default=20,
            help="differences printed per relation with --check (default %(default)s)",
        )

    def handle(self, *args: Any, check: bool, show: int, **options: Any) -> None:
        stale_matches, _ = stale_points()
        if stale_matches:
            self.stderr.write(
                f"{stale_matches} settled match(es) have missing or stale points: the statistics "
                "follow the points as they are; the sweep queues their scoring within a minute."
            )
        marks, _ = pending_marks()
        if check and marks:
            self.stderr.write(
                f"{marks} write(s) are not refreshed yet: their differences below are expected "
                "until the next refresh (`manage.py refresh_stats`)."
            )
        started = time.perf_counter()
        if check:
            self._check(show, started)
            return
        try:
            with steps_printed_not_logged():
                steps = stats_rebuild()
        except ViewNotRefreshable as exc:
            raise CommandError(str(exc)) from exc
        print_steps(self, steps, started, "rebuilt")

    def _check(self, show: int, started: float) -> None:
        audits = stats_audit(show=show)
        for audit in audits:
            for difference in audit.first_differences:
                self.stdout.write(str(difference))
            if audit.differences > len(audit.first_differences):
                unlisted = audit.differences - len(audit.first_differences)
                self.stdout.write(f"{audit.relation}: {unlisted} more difference(s) not shown")
        width = max(len(audit.relation) for audit in audits)
        for audit in audits:
            self.stdout.write(
                f"{audit.relation:<{width}}  {audit.rows:>9} rows  {audit.differences:>9} differ"
            )
        differences = sum(audit.differences for audit in audits)
        elapsed_ms = round((time.perf_counter() - started) * 1000)
        if differences:
            raise CommandError(
                f"{differences} row(s) differ from a recomputation from scratch "
                f"(checked in {elapsed_ms} ms); `manage.py rebuild_stats` repairs them",
                returncode=1,
            )
        self.stdout.write(f"every statistic matches its recomputation ({elapsed_ms} ms)")

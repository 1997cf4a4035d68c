"""`manage.py rebuild_stats [--check] [--rescore]`: every statistic from scratch, or a check."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from stats.audit import stats_audit, wrong_points
from stats.exceptions import ViewNotRefreshable
from stats.management.commands.refresh_stats import print_steps, steps_printed_not_logged
from stats.monitoring import stale_points
from stats.refresh import pending_changes, stats_rebuild
from stats.services import matches_rescore


class Command(BaseCommand):
    help = (
        "Recompute every total, count and match summary from the predictions, writing only what "
        "differs (safe while workers run); with --rescore, score every settled match again "
        "first (the scoring tiers in force). With --check, change nothing: print every "
        "difference between what is stored (statistics and points) and a recomputation, and "
        "exit 1 if there is one."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check", action="store_true", help="compare only; exit 1 on any difference"
        )
        parser.add_argument(
            "--rescore",
            action="store_true",
            help="score every settled match again before the rebuild",
        )
        parser.add_argument(
            "--show",
            type=int,
            default=20,
            help="differences printed per relation with --check (default %(default)s)",
        )

    def handle(self, *args: Any, check: bool, rescore: bool, show: int, **options: Any) -> None:
        if check and rescore:
            raise CommandError("--check changes nothing; --rescore re-scores: choose one")
        stale_matches, _ = stale_points()
        if stale_matches and not rescore:
            self.stderr.write(
                f"{stale_matches} settled match(es) have missing or stale points: the statistics "
                "follow the points as they are; the sweep queues their scoring within a minute."
            )
        changes, _ = pending_changes()
        if check and changes:
            self.stderr.write(
                f"{changes} logged change(s) are not refreshed yet: their differences below are "
                "expected until the next refresh (`manage.py refresh_stats`)."
            )
        started = time.perf_counter()
        if check:
            self._check(show, started)
            return
        if rescore:
            changed = matches_rescore()
            self.stdout.write(f"re-scored every settled match: {changed} prediction(s) changed")
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
        points = wrong_points()
        for prediction_id, stored, expected in points.wrong[:show]:
            self.stdout.write(
                f"stats_prediction (id={prediction_id}): points stored {stored} vs "
                f"{expected} by the scoring tiers in force"
            )
        if len(points.wrong) > show:
            self.stdout.write(f"stats_prediction: {len(points.wrong) - show} more not shown")
        width = max(len(audit.relation) for audit in audits)
        for audit in audits:
            self.stdout.write(
                f"{audit.relation:<{width}}  {audit.rows:>9} rows  {audit.differences:>9} differ"
            )
        self.stdout.write(
            f"{'points':<{width}}  {points.checked:>9} rows  {len(points.wrong):>9} differ"
        )
        differences = sum(audit.differences for audit in audits) + len(points.wrong)
        elapsed_ms = round((time.perf_counter() - started) * 1000)
        if differences:
            repair = (
                "`manage.py rebuild_stats --rescore` repairs them"
                if points.wrong
                else "`manage.py rebuild_stats` repairs them"
            )
            raise CommandError(
                f"{differences} row(s) differ from a recomputation from scratch "
                f"(checked in {elapsed_ms} ms); {repair}",
                returncode=1,
            )
        self.stdout.write(f"every statistic matches its recomputation ({elapsed_ms} ms)")

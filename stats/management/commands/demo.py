from __future__ import annotations

import io
import statistics
import tempfile
import time
from argparse import ArgumentParser
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from stats import jobs, monitoring
from stats.demo import (
    DEFAULT_SEASON,
    PLAYED_AGO,
    DemoSeason,
    demo_groups_create,
    demo_predictions_create,
    demo_reset,
    write_snapshot,
)
from stats.groups import group_board_page, group_member_count
from stats.jobs import CALCULATE_POINTS, REFRESH_STATS_VIEWS
from stats.models import Competition, Match, MatchSummary, PlayerGroup
from stats.processes import WorkerPool
from stats.relations import COMPETITION, OVERALL, ROUND
from stats.selectors import Board, leaderboard_page
from stats.templatetags.matchday import movement


class Command(BaseCommand):
    help = (
        "End-to-end demo on a real season: load its fixtures (moved into the future), seed "
        "users and predictions, start real workers, feed the real results round by round "
        "through sync_matches, and show the boards the jobs computed."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--season",
            type=Path,
            default=DEFAULT_SEASON,
            help="a football.json file (default: the Premier League 2024/25, shipped)",
        )
        parser.add_argument("--users", type=int, default=300)
        parser.add_argument(
            "--rounds", type=int, default=10, help="rounds to play (default 10; 0: all)"
        )
        parser.add_argument("--workers", type=int, default=2, help="worker processes to start")
        parser.add_argument(
            "--refresh-delay", type=int, default=2, help="STATS_REFRESH_DELAY for the demo, s"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", verbosity=0)
        started = time.monotonic()
        season = DemoSeason.load(options["season"])
        rounds = min(options["rounds"] or season.rounds, season.rounds)
        demo_reset(season)
        folder = Path(tempfile.mkdtemp(prefix="matchday-demo-"))
        stem = options["season"].stem
        self.stdout.write(
            f"{season.name}: {len(season.feed.matches)} fixtures, moved {season.shift.days} "
            f"days ahead so predictions are open; playing {rounds} of {season.rounds} rounds"
        )
        self._sync(season, write_snapshot(season.snapshot({}), folder, f"{stem}.fixtures.json"))
        matches = list(
            Match.objects.filter(competition__name=season.name, round__lte=rounds)
            .select_related("home_team", "away_team")
            .order_by("round", "kickoff_at", "id")
        )
        seeded = time.monotonic()
        count = demo_predictions_create(matches=matches, users=options["users"])
        self.stdout.write(
            f"  {options['users']} users, {count} predictions for rounds 1-{rounds} "
            f"in {time.monotonic() - seeded:.1f} s"
        )
        demo_groups = demo_groups_create()
        self.stdout.write(
            "  groups: "
            + ", ".join(
                f"{group.name} ({group_member_count(group=group)})" for group in demo_groups
            )
        )
        first_job = monitoring.last_job_id()
        workers = self._start_workers(options["workers"], options["refresh_delay"], folder)
        try:
            self._wait_for_workers(options["workers"])
            played: dict[int, datetime] = {}
            for round_number in range(1, rounds + 1):
                round_started = time.monotonic()
                played[round_number] = timezone.now() - PLAYED_AGO
                snapshot = write_snapshot(
                    season.snapshot(played), folder, f"{stem}.round-{round_number:02d}.json"
                )
                summary = self._sync(season, snapshot, quiet=True)
                self._wait(
                    f"Round {round_number}: scoring",
                    lambda: self._pending(first_job, CALCULATE_POINTS),
                )
                self.stdout.write(
                    f"\rRound {round_number:>2}: {summary}; scored "
                    f"{time.monotonic() - round_started:.1f} s after the feed   "
                )
            self._wait(
                "batched leaderboard refresh",
                lambda: self._pending(first_job, REFRESH_STATS_VIEWS),
            )
            self.stdout.write("\rBoards refreshed                              ")
        finally:
            workers.stop_all(timeout=30)
        if demo_groups:
            self._group_report(demo_groups[0])
        self._report(season, matches, rounds, first_job, time.monotonic() - started)
        self.stdout.write(f"  snapshots fed:               {folder}")

    def _sync(self, season: DemoSeason, path: Path, *, quiet: bool = False) -> str:
        """Run sync_matches on one snapshot; its summary, without the file and timing."""
        out = io.StringIO()
        call_command(
            "sync_matches",
            str(path),
            time_zone=season.feed.time_zone.key,
            stdout=out,
            stderr=io.StringIO(),
            verbosity=0,
        )
        line = out.getvalue().strip()
        if not quiet:
            self.stdout.write(f"  sync_matches {path.name}: {line.split(' ms: ')[1]}")
        summary = line.split(" ms: ")[1].split(" (matches)")[0]
        return ", ".join(part for part in summary.split(", ") if not part.startswith("0 "))

    def _start_workers(self, count: int, refresh_delay: int, log_dir: Path) -> WorkerPool:
        self.stdout.write(f"Starting {count} worker process(es); their logs: {log_dir}")
        workers = WorkerPool(
            log_dir,
            {"STATS_REFRESH_DELAY": str(refresh_delay), "STATS_WORKER_POLL_INTERVAL": "0.5"},
        )
        for _ in range(count):
            workers.spawn()
        return workers

    def _wait_for_workers(self, count: int) -> None:
        self._wait("workers starting", lambda: max(0, count - jobs.workers_registered()))

    def _wait(self, what: str, remaining: Callable[[], int], timeout: float = 120) -> None:
        """Poll until nothing remains, showing how much does; give up after `timeout` s."""
        deadline = time.monotonic() + timeout
        while left := remaining():
            if time.monotonic() > deadline:
                raise CommandError(
                    f"{what}: {left} left after {timeout:.0f} s; see the workers' log"
                )
            if self.stdout.isatty():
                self.stdout.write(f"\r{what}: {left} left   ", ending="")
                self.stdout.flush()
            time.sleep(0.1)

    @staticmethod
    def _pending(first_job: int, task_name: str) -> int:
        return monitoring.jobs_queued_after(first_job, task_name=task_name)

    def _group_report(self, group: PlayerGroup) -> None:
        """The first group's board, with each member's move since the latest round."""
        page = group_board_page(group=group, competition=None, page=1, page_size=25)
        self.stdout.write(
            f"\nGroup {group.name!r} ({page.total_entries} players): movement since the "
            "latest round"
        )
        self.stdout.write(
            f"  {'rank':>4}  {'user':<12} {'points':>6} {'exact':>5} {'before':>6}  move"
        )
        for entry in page.entries:
            before = entry["previous_rank"]
            self.stdout.write(
                f"  {entry['rank']:>4}  {entry['username']:<12} {entry['total_points']:>6} "
                f"{entry['exact_scores']:>5} {before if before is not None else '-':>6}  "
                f"{movement(entry) or 'new'}"
            )

    def _report(
        self,
        season: DemoSeason,
        matches: list[Match],
        rounds: int,
        first_job: int,
        elapsed: float,
    ) -> None:
        self.stdout.write(f"\n{season.name}, after {rounds} rounds: top 10")
        self.stdout.write(f"  {'rank':>4}  {'user':<12} {'points':>6} {'exact':>5} {'outcomes':>8}")
        for entry in leaderboard_page(board=Board(OVERALL), page=1, page_size=10).entries:
            self.stdout.write(
                f"  {entry['rank']:>4}  {entry['username']:<12} {entry['total_points']:>6} "
                f"{entry['exact_scores']:>5} {entry['correct_outcomes']:>8}"
            )
        competition = Competition.objects.filter(name=season.name).first()
        leaders = (
            leaderboard_page(board=Board(COMPETITION, competition), page=1, page_size=1).entries
            if competition is not None
            else []
        )
        if leaders:
            self.stdout.write(
                f"  competition leader: {leaders[0]['username']} "
                f"({leaders[0]['total_points']} points)"
            )
        last_round = [match.pk for match in matches if match.round == rounds]
        best_of_round = (
            leaderboard_page(board=Board(ROUND, competition, rounds), page=1, page_size=1).entries
            if competition is not None
            else []
        )
        self.stdout.write(f"\nRound {rounds}, as played:")
        summaries = {
            summary.match_id: summary
            for summary in MatchSummary.objects.filter(match_id__in=last_round)
        }
        for match in Match.objects.filter(pk__in=last_round).select_related(
            "home_team", "away_team"
        ):
            found = summaries.get(match.pk)
            exact = f"{found.exact_scores} of {found.predictions_count} exact" if found else ""
            self.stdout.write(
                f"  {match.home_team.name:>28} {match.home_score}-{match.away_score} "
                f"{match.away_team.name:<28} {exact}"
            )
        if best_of_round:
            best = best_of_round[0]
            self.stdout.write(
                f"  best in round {rounds}: {best['username']} ({best['total_points']} points)"
            )

        played = Match.objects.filter(pk__in=[match.pk for match in matches])
        latencies = [
            (match.points_calculated_at - match.completed_at).total_seconds() * 1000
            for match in played
            if match.points_calculated_at and match.completed_at
        ]
        ran = monitoring.jobs_ended_after(first_job)
        self.stdout.write("\nFigures:")
        self.stdout.write(
            f"  matches completed:           {played.filter(status='completed').count()}"
        )
        self.stdout.write(f"  scoring jobs run:            {ran.scorings}")
        self.stdout.write(f"  view refreshes run:          {ran.refreshes}")
        self.stdout.write(f"  failed jobs:                 {ran.failed}")
        self.stdout.write(f"  matches with stale points:   {played.with_stale_points().count()}")
        if latencies:
            self.stdout.write(
                f"  completion to points:        median {statistics.median(latencies):.0f} ms, "
                f"max {max(latencies):.0f} ms"
            )
        self.stdout.write(f"  demo took:                   {elapsed:.1f} s")

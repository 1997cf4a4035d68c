from __future__ import annotations

import itertools
import statistics
import tempfile
import time
from argparse import ArgumentParser
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count, Q
from procrastinate.contrib.django.models import ProcrastinateJob, ProcrastinateWorker

from stats.demo import COMPETITIONS, LeagueSize, demo_league_create, demo_result
from stats.jobs import CALCULATE_POINTS, REFRESH_STATS_VIEWS
from stats.models import CompetitionStanding, LeaderboardEntry, Match
from stats.processes import WorkerPool


class Command(BaseCommand):
    help = (
        "End-to-end demo: seed a league, start real workers, complete its matches round by "
        "round, and show the leaderboard the jobs computed."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        size = LeagueSize()
        parser.add_argument("--users", type=int, default=size.users)
        parser.add_argument("--teams", type=int, default=size.teams, help="per competition, even")
        parser.add_argument("--rounds", type=int, default=size.rounds)
        parser.add_argument("--workers", type=int, default=2, help="worker processes to start")
        parser.add_argument(
            "--refresh-delay", type=int, default=2, help="STATS_REFRESH_DELAY for the demo, s"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", verbosity=0)
        size = LeagueSize(users=options["users"], teams=options["teams"], rounds=options["rounds"])
        started = time.monotonic()
        self.stdout.write(
            f"Seeding {size.users} users, {len(COMPETITIONS)} competitions of {size.teams} teams, "
            f"{size.rounds} rounds..."
        )
        matches = demo_league_create(size=size)
        self.stdout.write(
            f"  {len(matches)} matches, {len(matches) * size.users} predictions "
            f"in {time.monotonic() - started:.1f} s"
        )
        first_job = (
            ProcrastinateJob.objects.order_by("-id").values_list("id", flat=True).first()
        ) or 0
        workers = self._start_workers(options["workers"], options["refresh_delay"])
        try:
            self._wait_for_workers(options["workers"])
            for round_number, round_matches in itertools.groupby(matches, key=lambda m: m.round):
                self._complete_round(round_number, list(round_matches), first_job)
            self._wait_for_refresh(first_job)
        finally:
            workers.stop_all(timeout=30)
        self._report(matches, first_job, time.monotonic() - started)

    def _start_workers(self, count: int, refresh_delay: int) -> WorkerPool:
        log_dir = Path(tempfile.mkdtemp(prefix="matchday-demo-"))
        self.stdout.write(f"Starting {count} worker process(es); their logs: {log_dir}")
        workers = WorkerPool(
            log_dir,
            {"STATS_REFRESH_DELAY": str(refresh_delay), "STATS_WORKER_POLL_INTERVAL": "0.5"},
        )
        for _ in range(count):
            workers.spawn()
        return workers

    def _wait_for_workers(self, count: int) -> None:
        self._wait("workers starting", lambda: max(0, count - ProcrastinateWorker.objects.count()))

    def _complete_round(self, round_number: int, matches: list[Match], first_job: int) -> None:
        for match in matches:
            match.home_score, match.away_score = demo_result(match)
            match.status = Match.Status.COMPLETED
            match.save()  # the post_save receiver queues the scoring, in this transaction
        self._wait(
            f"Round {round_number}: scoring", lambda: self._pending(first_job, CALCULATE_POINTS)
        )
        self.stdout.write(f"\rRound {round_number}: {len(matches)} matches scored          ")

    def _wait_for_refresh(self, first_job: int) -> None:
        self._wait(
            "batched leaderboard refresh", lambda: self._pending(first_job, REFRESH_STATS_VIEWS)
        )
        self.stdout.write("\rLeaderboard views refreshed                 ")

    def _wait(self, what: str, remaining: Callable[[], int], timeout: float = 120) -> None:
        """Poll until nothing remains, showing how much does; give up after `timeout` s."""
        deadline = time.monotonic() + timeout
        while left := remaining():
            if time.monotonic() > deadline:
                raise CommandError(
                    f"{what}: {left} left after {timeout:.0f} s; see the workers' log"
                )
            self.stdout.write(f"\r{what}: {left} left   ", ending="")
            self.stdout.flush()
            time.sleep(0.2)

    @staticmethod
    def _pending(first_job: int, task_name: str) -> int:
        return ProcrastinateJob.objects.filter(
            id__gt=first_job, task_name=task_name, status__in=["todo", "doing"]
        ).count()

    def _report(self, matches: list[Match], first_job: int, elapsed: float) -> None:
        self.stdout.write("\nLeaderboard, top 10:")
        self.stdout.write(f"  {'rank':>4}  {'user':<12} {'points':>6} {'exact':>5} {'outcomes':>8}")
        for entry in LeaderboardEntry.objects.select_related("user")[:10]:
            self.stdout.write(
                f"  {entry.rank:>4}  {entry.user.username:<12} {entry.total_points:>6} "
                f"{entry.exact_scores:>5} {entry.correct_outcomes:>8}"
            )
        self.stdout.write("\nCompetition leaders:")
        leaders = CompetitionStanding.objects.filter(
            rank=1, competition__slug__in=[slug for slug, _ in COMPETITIONS]
        ).select_related("competition", "user")
        for standing in leaders:
            self.stdout.write(
                f"  {standing.competition.name}: {standing.user.username} "
                f"({standing.total_points} points)"
            )
        latencies = [
            (match.points_calculated_at - match.completed_at).total_seconds() * 1000
            for match in Match.objects.filter(pk__in=[m.pk for m in matches])
            if match.points_calculated_at and match.completed_at
        ]
        jobs = ProcrastinateJob.objects.filter(id__gt=first_job).aggregate(
            scorings=Count("id", filter=Q(task_name=CALCULATE_POINTS, status="succeeded")),
            refreshes=Count("id", filter=Q(task_name=REFRESH_STATS_VIEWS, status="succeeded")),
            failed=Count("id", filter=Q(status="failed")),
        )
        stale = Match.objects.filter(pk__in=[m.pk for m in matches]).with_stale_points()
        self.stdout.write("\nFigures:")
        self.stdout.write(f"  matches completed:           {len(matches)}")
        self.stdout.write(f"  scoring jobs run:            {jobs['scorings']}")
        self.stdout.write(f"  view refreshes run:          {jobs['refreshes']}")
        self.stdout.write(f"  failed jobs:                 {jobs['failed']}")
        self.stdout.write(f"  matches with stale points:   {stale.count()}")
        if latencies:
            self.stdout.write(
                f"  completion to points:        median {statistics.median(latencies):.0f} ms, "
                f"max {max(latencies):.0f} ms"
            )
        self.stdout.write(f"  demo took:                   {elapsed:.1f} s")

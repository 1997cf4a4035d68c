"""`manage.py sync_matches FILE…`: the results feed, from football.json files."""

from __future__ import annotations

import functools
import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from stats.exceptions import FeedError
from stats.football_json import feed_read
from stats.results_feed import matches_sync_from_feed


class Command(BaseCommand):
    help = (
        "Bring the league up to date from football.json files (openfootball): create the "
        "competition, teams and matches they name; complete, correct, void, reopen or move "
        "matches as they say. Each file is applied entirely or not at all, in the order given; "
        "every result change queues its scoring."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
        parser.add_argument(
            "--time-zone",
            help="the IANA zone of the files' local times (default: from the file name, "
            "e.g. en.1.json is Europe/London)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        for path in options["files"]:
            started = time.perf_counter()
            try:
                feed = feed_read(path, time_zone=options["time_zone"])
                sync = matches_sync_from_feed(
                    feed=feed,
                    progress=functools.partial(self._progress, path)
                    if options["verbosity"] >= 1
                    else None,
                )
            except FeedError as error:
                raise CommandError(f"{error}; nothing from this file was written") from error
            elapsed_ms = round((time.perf_counter() - started) * 1000)
            self.stdout.write(
                f"{path.name}: {sync.competition}, {sync.matches} matches "
                f"(local times {feed.time_zone.key}) in {elapsed_ms} ms: {sync}"
            )

    def _progress(self, path: Path, done: int, total: int) -> None:
        self.stderr.write(f"  {path.name}: {done}/{total} matches")

"""`manage.py run_worker`: a Procrastinate worker that comes back by itself, for `make worker`.

A worker does not reconnect: when the database restarts it stops by itself (status 0 when its
LISTEN connection noticed first, 1 when its fetch did). systemd starts it again
(docs/deploy/); at a terminal this command does the same: it starts `manage.py procrastinate
worker` again after a pause, and gives up when the worker keeps exiting (more than `--burst`
starts within `--interval` seconds, like systemd's StartLimitBurst), so a crash loop ends in a
failed command with the reason instead of being hidden.

Before each start it asks whether the database is ready (stats/readiness.py): one that is stopped
(`make db-stop`), missing or not migrated is said once, in one line, and waited for; the worker
starts when it is ready. Waiting is no crash loop, and starts nothing it should not.
"""

from __future__ import annotations

import argparse
import collections
import signal
import subprocess
import sys
import threading
import time
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from stats.readiness import database_problem, problem_kind


class Command(BaseCommand):
    help = (
        "Run `manage.py procrastinate worker` and start it again after it exits by itself (a "
        "database restart), giving up when it keeps exiting. Arguments after `--` go to the worker."
    )
    requires_system_checks: list[str] = []  # the worker runs them itself, at each start

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--pause", type=float, default=2.0, help="seconds before a restart (default 2)"
        )
        parser.add_argument(
            "--burst",
            type=int,
            default=5,
            help="restarts allowed within --interval before giving up (default 5)",
        )
        parser.add_argument(
            "--interval", type=float, default=60.0, help="seconds of the --burst window (60)"
        )
        parser.add_argument(
            "--check-every",
            type=float,
            default=5.0,
            help="seconds between checks of a database that is not ready (default 5)",
        )
        parser.add_argument("worker_args", nargs=argparse.REMAINDER)

    def handle(self, *args: Any, **options: Any) -> None:
        pause: float = options["pause"]
        burst: int = options["burst"]
        interval: float = options["interval"]
        worker_args = [arg for arg in options["worker_args"] if arg != "--"]
        command = [sys.executable, str(settings.BASE_DIR / "manage.py"), "procrastinate"]
        command += ["worker", *worker_args]

        stopping = threading.Event()
        worker: subprocess.Popen[bytes] | None = None

        def stop(signum: int, frame: FrameType | None) -> None:
            # The worker runs in its own session, so a Ctrl-C at the terminal reaches only us:
            # it gets exactly one signal (a second one would cut its running jobs short).
            stopping.set()
            if worker is not None and worker.poll() is None:
                worker.send_signal(signum)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)

        restarts: collections.deque[float] = collections.deque()
        while True:
            if not self._wait_for_database(stopping, options["check_every"]):
                return
            worker = subprocess.Popen(command, start_new_session=True)  # noqa: S603
            status = worker.wait()
            if stopping.is_set():
                return
            now = time.monotonic()
            restarts.append(now)
            while restarts and restarts[0] < now - interval:
                restarts.popleft()
            if len(restarts) > burst:
                raise CommandError(
                    f"the worker exited {len(restarts)} times within {interval:.0f} s (last "
                    f"status {status}); not starting it again: see its output above"
                )
            self.stderr.write(
                f"the worker exited with status {status}; starting it again in {pause:g} s "
                f"({len(restarts)} restart(s) in the last {interval:.0f} s, limit {burst})"
            )
            if stopping.wait(pause):
                return

    def _wait_for_database(self, stopping: threading.Event, check_every: float) -> bool:
        """Return once the database is ready (True), or when told to stop (False); say what is
        wrong once per change, not once per check."""
        said = None
        while not stopping.is_set():
            problem = database_problem()
            connections.close_all()  # the worker has its own; this process keeps none open
            if problem is None:
                if said is not None:
                    self.stderr.write("the database is ready: starting the worker")
                return True
            if said is None or problem_kind(problem) != problem_kind(said):
                self.stderr.write(
                    f"worker not started: {problem}; checking again every {check_every:g} s"
                )
                said = problem
            stopping.wait(check_every)
        return False

"""What a test needs to take the database away: a private embedded server it may stop and start,
workers kept running the way systemd keeps them (Restart=always), and a steady reader of the API
whose every answer is kept with its time."""

from __future__ import annotations

import http.client
import itertools
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg

from stats.processes import REPO_ROOT, Process, WorkerPool, manage_py_start
from stats_project.embedded_postgres.server import stop_server
from tests.support.workers import WORKER_ENV, process_env

PRIVATE_DATABASE = "faults"
START_SERVER_SCRIPT = """
import sys
from pathlib import Path
from stats_project.embedded_postgres.server import ensure_server
address = ensure_server(Path(sys.argv[1]), sys.argv[2], initialise=True)
print(address.socket_dir, address.port)
"""
RESTART_SECONDS = 1.0  # RestartSec= of docs/deploy/matchday-worker.service


def private_server_start(pgdata: Path) -> str:
    """Start (or start again) the embedded server in `pgdata`; return its DATABASE_URL.

    In a child process, as another process of the project would start it.
    """
    output = subprocess.run(
        [sys.executable, "-c", START_SERVER_SCRIPT, str(pgdata), PRIVATE_DATABASE],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    socket_dir, port = output.split()
    return f"postgres://postgres@{quote(socket_dir, safe='')}:{port}/{PRIVATE_DATABASE}"


def private_server_stop(pgdata: Path) -> None:
    stop_server(pgdata)


@dataclass
class PrivateServer:
    pgdata: Path
    url: str
    log_dir: Path

    def environment(self, **extra: str) -> dict[str, str]:
        """A child process's additions to this environment, to run on this server."""
        return process_env(self.url, **WORKER_ENV, **extra)

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url, autocommit=True, connect_timeout=5)

    def manage_py(self, *arguments: str, log_name: str) -> Process:
        return manage_py_start(arguments, env=self.environment(), log=self.log_dir / log_name)


@contextmanager
def private_server(log_dir: Path) -> Iterator[PrivateServer]:
    """A migrated database on an embedded server of our own, which the test may stop: never the
    server the rest of the suite (or anyone else) uses. Stopped and deleted at the end."""
    # A short path: the server's socket lives in its data folder.
    pgdata = Path(tempfile.mkdtemp(prefix="matchday-faults-")) / "pgdata"
    pgdata.parent.chmod(0o711)  # under root the server runs as its system user, which must pass
    try:
        server = PrivateServer(pgdata, private_server_start(pgdata), log_dir)
        migrate = server.manage_py("migrate", "--verbosity", "0", log_name="migrate.log")
        assert migrate.wait(timeout=120) == 0, (log_dir / "migrate.log").read_text()
        yield server
    finally:
        private_server_stop(pgdata)
        shutil.rmtree(pgdata.parent, ignore_errors=True)


@dataclass
class Supervisor:
    """Keeps `count` workers running on the private server the way the shipped systemd unit does
    (Restart=always): a worker that exits, whatever its status, is started again
    RESTART_SECONDS later. Each exit is kept with its status and time."""

    server: PrivateServer
    count: int
    processes: list[Process] = field(default_factory=list)
    exits: list[tuple[float, int]] = field(default_factory=list)
    _due: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.pool = WorkerPool(self.server.log_dir, self.server.environment())

    def start(self) -> None:
        self.processes = [self.pool.spawn() for _ in range(self.count)]
        self._due = [0.0] * self.count

    def tend(self) -> None:
        now = time.monotonic()
        for slot, process in enumerate(self.processes):
            if process.poll() is None:
                continue
            if not self._due[slot]:
                self.exits.append((now, process.returncode))
                self._due[slot] = now + RESTART_SECONDS
            elif now >= self._due[slot]:
                self.processes[slot], self._due[slot] = self.pool.spawn(), 0.0

    def pause(self, seconds: float) -> None:
        """Wait, tending the workers meanwhile as their supervisor would."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.tend()
            time.sleep(0.05)

    def stop_all(self) -> None:
        self.pool.stop_all()

    def logs(self) -> str:
        return self.pool.logs(tail=3000)


@dataclass(frozen=True)
class Reading:
    at: float
    path: str
    status: int  # 0: no answer (refused, reset or timed out)
    seconds: float


def read_steadily(port: int, stop: threading.Event, readings: list[Reading]) -> None:
    """GET the API and /health in turn, one request at a time, until told to stop."""
    for path in itertools.cycle(("/api/leaderboard?page_size=10", "/health")):
        if stop.is_set():
            return
        started = time.monotonic()
        status = 0
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
            conn.request("GET", path)
            status = conn.getresponse().status
            conn.close()
        except OSError:
            pass
        readings.append(Reading(started, path, status, time.monotonic() - started))
        time.sleep(0.05)

"""Real Procrastinate worker processes on the test database, for tests that need a worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from django.db import connection
from procrastinate.contrib.django import app

REPO_ROOT = Path(__file__).resolve().parents[2]

# Fast beats and polling so rescue and delayed jobs happen within seconds in tests.
WORKER_ENV = {
    "STATS_WORKER_HEARTBEAT_INTERVAL": "0.5",
    "STATS_STALLED_WORKER_TIMEOUT": "3",
    "STATS_WORKER_POLL_INTERVAL": "0.2",
    "STATS_REFRESH_DELAY": "1",
    "CONN_MAX_AGE": "60",  # as `make worker` and the systemd unit run workers
}


def test_database_url() -> str:
    """The URL of the database this test runs on, for processes started by the test."""
    params = connection.get_connection_params()
    user = quote(params.get("user") or "postgres", safe="")
    password = f":{quote(params['password'], safe='')}" if params.get("password") else ""
    host = quote(str(params.get("host") or "localhost"), safe="")
    return f"postgres://{user}{password}@{host}:{params.get('port') or 5432}/{params['dbname']}"


def wait_until(condition: Callable[[], object], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def stop_processes(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM (a worker's graceful stop), then SIGKILL whatever is still running after 15 s."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class Workers:
    """Starts `manage.py procrastinate worker` processes and stops them all at the end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, count: int = 1, **env: str) -> list[subprocess.Popen[bytes]]:
        started = []
        for _ in range(count):
            log_path = self.log_dir / f"worker-{len(self.processes)}.log"
            with log_path.open("wb") as log:  # the child keeps its own copy of the descriptor
                process = subprocess.Popen(
                    [sys.executable, "manage.py", "procrastinate", "worker"],
                    cwd=REPO_ROOT,
                    env={
                        **os.environ,
                        "DJANGO_SETTINGS_MODULE": "tests.settings",
                        "DATABASE_URL": test_database_url(),
                        **WORKER_ENV,
                        **env,
                    },
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            self.processes.append(process)
            started.append(process)
        wait_until(
            lambda: self.registered() >= len(self.alive()),
            timeout=30,
            what=f"{count} worker(s) to register",
        )
        return started

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [process for process in self.processes if process.poll() is None]

    @staticmethod
    def registered() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM procrastinate_workers")
            return int(cursor.fetchone()[0])

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    @staticmethod
    def sweep_once_stalled(timeout: float = 30) -> None:
        """Once a running job's worker has not beaten for the stall timeout, run the minute's
        sweep (which rescues it) now rather than wait for the clock."""

        def stalled_jobs() -> int:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM procrastinate_jobs job"
                    " LEFT JOIN procrastinate_workers worker ON worker.id = job.worker_id"
                    " WHERE job.status = 'doing' AND (worker.id IS NULL"
                    " OR worker.last_heartbeat < now() - %s * interval '1 second')",
                    [float(WORKER_ENV["STATS_STALLED_WORKER_TIMEOUT"])],
                )
                return int(cursor.fetchone()[0])

        wait_until(stalled_jobs, timeout=timeout, what="a running job's heartbeat to go stale")
        app.configure_task("stats.tasks.sweep_stale_points").defer(timestamp=0)

    def stop_all(self) -> None:
        stop_processes(self.processes)

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}"
            for path in sorted(self.log_dir.glob("worker-*.log"))
        )

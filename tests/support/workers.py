"""Processes a test starts on its own database: real workers (stats.processes' pool), scripts,
`manage.py` commands, each with the test settings and the test database's URL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.db import connection
from procrastinate.contrib.django import app

from stats.jobs import workers_registered
from stats.processes import REPO_ROOT, Process, WorkerPool, wait_until

# Fast beats and polling so rescue and delayed jobs happen within seconds in tests.
WORKER_ENV = {
    "STATS_WORKER_HEARTBEAT_INTERVAL": "0.5",
    "STATS_STALLED_WORKER_TIMEOUT": "3",
    "STATS_WORKER_POLL_INTERVAL": "0.2",
    "STATS_REFRESH_DELAY": "1",
    "CONN_MAX_AGE": "60",  # as `make worker` and the systemd unit run workers
}


def database_url_of_this_test() -> str:
    """The URL of the database this test runs on, for processes started by the test."""
    params = connection.get_connection_params()
    user = quote(params.get("user") or "postgres", safe="")
    password = f":{quote(params['password'], safe='')}" if params.get("password") else ""
    host = quote(str(params.get("host") or "localhost"), safe="")
    return f"postgres://{user}{password}@{host}:{params.get('port') or 5432}/{params['dbname']}"


def process_env(
    database_url: str | None = None, *, settings: str = "tests.settings", **extra: str
) -> dict[str, str]:
    """What a child process adds to this one's environment to run on `database_url` (default:
    this test's database) with `settings`."""
    return {
        "DJANGO_SETTINGS_MODULE": settings,
        "DATABASE_URL": database_url or database_url_of_this_test(),
        **extra,
    }


def script_start(script: str, *arguments: str, env: dict[str, str]) -> Process:
    """`python -c script arguments...` in the repository, this environment plus `env`, its
    output piped back to the test (`communicate()`)."""
    return subprocess.Popen(
        [sys.executable, "-c", script, *arguments],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def web_script_answer(
    script: str, *arguments: str, unset: tuple[str, ...] = (), **environment: str
) -> dict[str, Any]:
    """Run `script` (which prints a JSON object last) as the web would run it: the project's own
    settings on this test's database, DEBUG on, this environment less `unset` plus
    `environment`. Its answer, or the test fails with its error output."""
    env = {
        **{name: value for name, value in os.environ.items() if name not in unset},
        "DJANGO_SETTINGS_MODULE": "stats_project.settings",
        "DATABASE_URL": database_url_of_this_test(),
        "DEBUG": "true",
        **environment,
    }
    completed = subprocess.run(
        [sys.executable, "-c", script, *arguments],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    answer: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return answer


class Workers(WorkerPool):
    """Real workers on this test's database (its writes must commit to be seen), with the fast
    beats of WORKER_ENV, and what tests do to them."""

    def __init__(self, log_dir: Path) -> None:
        super().__init__(log_dir, process_env(**WORKER_ENV))

    @staticmethod
    def registered() -> int:
        return workers_registered()

    @staticmethod
    def sweep_once_stalled(timeout: float = 30) -> None:
        """Once a running job's worker has not beaten for the stall timeout, run the minute's
        sweep (which rescues it) now rather than wait for the clock. A live worker's own rescue
        (after each of its heartbeats) may put the job back first: then nothing is left to wait
        for."""

        def running() -> set[tuple[int, int | None]]:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT id, worker_id FROM procrastinate_jobs WHERE status = 'doing'"
                )
                return set(cursor.fetchall())

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

        were_running = running()
        wait_until(
            lambda: stalled_jobs() or not were_running & running(),
            timeout=timeout,
            what="a running job's heartbeat to go stale",
        )
        app.configure_task("stats.tasks.sweep_stale_points").defer(timestamp=0)

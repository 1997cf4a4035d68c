"""`manage.py run_worker` (`make worker`): a worker that stopped because its database went away
is started again; one that keeps exiting is given up on, loudly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from tests.support.workers import REPO_ROOT, WORKER_ENV, Workers, stop_processes, wait_until
from tests.support.workers import test_database_url as database_url_of_this_test

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def run_worker(log: Path, *args: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "manage.py", "run_worker", *args],
            cwd=REPO_ROOT,
            env={
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "tests.settings",
                "DATABASE_URL": database_url_of_this_test(),
                **WORKER_ENV,
            },
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def worker_ids() -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM procrastinate_workers")
        return {row[0] for row in cursor.fetchall()}


def test_a_worker_that_lost_its_database_comes_back(tmp_path: Path) -> None:
    """Its connections cut (what a database restart does to it), the worker stops by itself;
    run_worker starts a new one, which registers; SIGTERM then stops both for good."""
    log = tmp_path / "run_worker.log"
    supervisor = run_worker(log, "--pause", "0.2")
    try:
        wait_until(lambda: len(worker_ids()) == 1, timeout=30, what="the worker to register")
        [first] = worker_ids()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        wait_until(lambda: worker_ids() - {first}, timeout=60, what="a new worker to register")
        assert supervisor.poll() is None
        assert "the worker exited with status" in log.read_text()
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=30) == 0
        wait_until(lambda: not worker_ids() - {first}, timeout=10, what="the worker to stop")
    finally:
        stop_processes([supervisor])
        print(log.read_text())


def test_a_worker_that_keeps_exiting_is_given_up_on(tmp_path: Path) -> None:
    """A worker that cannot start (here: an option it does not know) exits at once each time:
    after --burst restarts within --interval, run_worker fails with the reason, not forever."""
    log = tmp_path / "run_worker.log"
    supervisor = run_worker(log, "--pause", "0.1", "--burst", "2", "--", "--no-such-option")
    try:
        assert supervisor.wait(timeout=60) == 1
    finally:
        stop_processes([supervisor])
    output = log.read_text()
    assert output.count("the worker exited with status 2; starting it again") == 2, output
    assert "the worker exited 3 times within 60 s (last status 2); not starting it again" in output
    assert not Workers.registered()

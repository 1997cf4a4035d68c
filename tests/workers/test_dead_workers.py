"""Dead workers do not go unnoticed: /health, /metrics and stats_status count the live ones, and
`manage.py run_worker` (`make worker`) starts again a worker that stopped because its database
went away, and gives up loudly on one that keeps exiting."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from pytest_django import Settings

from stats.processes import REPO_ROOT, processes_stop, wait_until
from tests.support.factories import complete, make_match
from tests.support.workers import WORKER_ENV, Workers, database_url_of_this_test

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

TOKEN = "metrics-" + "t" * 40


def test_a_killed_worker_shows_in_health_metrics_and_stats_status(
    workers: Workers, settings: Settings, client: Client
) -> None:
    """One live worker: counted everywhere. SIGKILLed (it cannot unregister) and a result saved:
    once its heartbeat is older than the stall timeout, /health is 503 'no live worker',
    /metrics says 0 and stats_status says so too."""
    settings.STATS_STALLED_WORKER_TIMEOUT = float(WORKER_ENV["STATS_STALLED_WORKER_TIMEOUT"])
    settings.METRICS_TOKEN = TOKEN
    operator = {"Authorization": f"Bearer {TOKEN}"}  # the detailed answers
    [worker] = workers.start()
    assert client.get("/health", headers=operator).json()["live_workers"] == 1
    workers.kill(worker)
    complete(make_match(), 1, 0)  # a scoring job is due, and nobody will run it
    wait_until(
        lambda: client.get("/health").status_code == 503, timeout=20, what="/health to notice"
    )
    body = client.get("/health", headers=operator).json()
    assert body["live_workers"] == 0
    # The scoring job, and the minute's sweep if the worker deferred one before it died.
    [reason] = body["reasons"]
    assert re.fullmatch(
        r"no live worker: [12] due job\(s\) wait and no worker has beaten within 3 s", reason
    )
    metrics = client.get("/metrics", headers=operator).content.decode()
    assert "matchday_live_workers 0.0" in metrics.splitlines()
    status = StringIO()
    call_command("stats_status", stdout=status)
    assert "Live workers: 0 (heartbeat within 3 s)" in status.getvalue().splitlines()


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


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux's /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid ...": comm may hold spaces, so read after its ")".
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def test_a_worker_that_stopped_by_itself_comes_back(tmp_path: Path) -> None:
    """A worker that stops by itself, status 0 (what Procrastinate's worker does when its
    database goes away), is started again by run_worker and registers anew; SIGTERM to
    run_worker then stops both for good."""
    log = tmp_path / "run_worker.log"
    supervisor = run_worker(log, "--pause", "0.2")
    try:
        wait_until(lambda: len(worker_ids()) == 1, timeout=30, what="the worker to register")
        [first] = worker_ids()
        [worker] = children_of(supervisor.pid)
        # A graceful stop of the worker alone: it exits 0, as on a lost database (cutting the
        # database's connections makes it stop too, but only when its pool notices, which took
        # from 1 s to over 90 s in this suite's runs).
        os.kill(worker, signal.SIGTERM)
        wait_until(
            lambda: "the worker exited with status 0" in log.read_text(),
            timeout=30,
            what="the worker to stop",
        )
        wait_until(lambda: worker_ids() - {first}, timeout=30, what="a new worker")
        assert supervisor.poll() is None
        # SIGTERM is passed on to the worker (a graceful stop); run_worker waits for it to end,
        # then exits 0 instead of starting another.
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=30) == 0
    finally:
        processes_stop([supervisor])
        print(log.read_text())


def test_a_worker_that_keeps_exiting_is_given_up_on(tmp_path: Path) -> None:
    """A worker that cannot start (here: an option it does not know) exits at once each time:
    after --burst restarts within --interval, run_worker fails with the reason, not forever."""
    log = tmp_path / "run_worker.log"
    supervisor = run_worker(log, "--pause", "0.1", "--burst", "2", "--", "--no-such-option")
    try:
        assert supervisor.wait(timeout=60) == 1
    finally:
        processes_stop([supervisor])
    output = log.read_text()
    assert output.count("the worker exited with status 2; starting it again") == 2, output
    assert "the worker exited 3 times within 60 s (last status 2); not starting it again" in output
    assert not Workers.registered()

"""Dead workers do not go unnoticed: /health, /metrics and stats_status count the live ones, and
`manage.py run_worker` (`make worker`) starts again a worker that stopped because its database
went away, and gives up loudly on one that keeps exiting."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from pytest_django import Settings

from stats.models import Match, Prediction
from stats.processes import REPO_ROOT, WorkerPool, processes_stop, wait_until
from tests.support.factories import complete, make_match, make_prediction, make_user
from tests.support.workers import WORKER_ENV, Workers, database_url_of_this_test, process_env

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


# --- Recovery after a worker's death, at the default settings ---------------------------------


def default_workers(log_dir: Path) -> WorkerPool:
    """Workers with the shipped heartbeat, stall timeout and polling (not WORKER_ENV's fast
    ones): what an operator runs."""
    return WorkerPool(log_dir, process_env(CONN_MAX_AGE="60"))


def scoring_jobs() -> list[tuple[str, int | None, int]]:
    """Each calculate_points job's status, worker and attempts, oldest first. The first is the
    result's; the minute's sweep may queue a second for the match while the first runs."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT status, worker_id, attempts FROM procrastinate_jobs WHERE task_name = %s"
            " ORDER BY id",
            ["stats.tasks.calculate_points"],
        )
        return [(str(status), worker_id, int(attempts)) for status, worker_id, attempts in cursor]


def scoring_job() -> tuple[str, int | None, int]:
    return scoring_jobs()[0]


@contextlib.contextmanager
def predictions_held(match: Match) -> Iterator[psycopg.Connection[Any]]:
    """Another session holds the row locks of the match's predictions, which scoring updates: a
    worker that starts scoring the match stays mid-scoring (status doing, the match locked) until
    the locks go."""
    holder = psycopg.connect(database_url_of_this_test())
    try:
        holder.execute("SELECT 1 FROM stats_prediction WHERE match_id = %s FOR UPDATE", [match.pk])
        yield holder
    finally:
        holder.close()


def test_a_worker_killed_mid_scoring_is_recovered_within_15_s(tmp_path: Path) -> None:
    """Default settings, two workers. The first is SIGKILLed while it scores a result; the other
    puts the job back and scores it: points in within 15 s of the kill, one attempt more, and no
    job row for the checks. Before: 82.5 s (the rescue waited for the minute's sweep after a
    30 s stall timeout)."""
    pool = default_workers(tmp_path)
    user, match = make_user(), make_match()
    make_prediction(user, match, 1, 0)
    try:
        complete(match, 1, 0)  # no worker yet: the job waits
        with predictions_held(match) as holder:
            [first] = pool.start(1)
            wait_until(lambda: scoring_job()[0] == "doing", timeout=30, what="the scoring to start")
            [_, busy_worker, _] = scoring_job()
            pool.start(1)  # the survivor
            pool.kill(first)
            killed_at = time.monotonic()
            holder.rollback()  # the lock goes; the dead worker's session ends with its socket

            wait_until(
                lambda: Match.objects.get(pk=match.pk).points_calculated_at is not None,
                timeout=40,
                what="the dead worker's scoring to be rescued and run",
            )
            recovered = time.monotonic() - killed_at
        print(f"FIGURE recovery after kill -9 mid-scoring: {recovered:.1f} s")
        assert recovered <= 15, pool.logs()
        assert Prediction.objects.get(match=match).points == 3
        # The points commit with the job's work; the job is marked done just after, by the worker.
        wait_until(
            lambda: any(status == "succeeded" for status, _, _ in scoring_jobs()),
            timeout=15,
            what="the scoring job that ran to be marked succeeded",
        )
        # Put back (its first attempt counted) and run by the survivor; or, when the minute's
        # sweep had queued a follow-up for the match meanwhile, put back and superseded by it
        # (the queueing-lock guard), the follow-up run by the survivor.
        [(status, _, attempts), *_] = scoring_jobs()
        assert (status, attempts) in {("succeeded", 2), ("cancelled", 1)}
        ran = [worker for status, worker, _ in scoring_jobs() if status == "succeeded"]
        assert ran
        assert busy_worker not in ran
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM procrastinate_jobs WHERE task_name = %s",
                ["stats.tasks.rescue_stalled_jobs"],
            )
            assert cursor.fetchone() == (0,)  # no job row per check, however many checks ran
    finally:
        pool.stop_all()


def test_a_live_worker_busy_in_a_long_scoring_keeps_its_job(tmp_path: Path) -> None:
    """Default settings: a worker stays mid-scoring for 30 s (almost 4 stall timeouts) while
    another worker runs the rescue at each of its beats: the job is never taken from it
    (still its, first attempt) and it finishes it, in one attempt."""
    pool = default_workers(tmp_path)
    user, match = make_user(), make_match()
    make_prediction(user, match, 2, 2)
    try:
        complete(match, 2, 2)
        with predictions_held(match) as holder:
            pool.start(1)
            wait_until(lambda: scoring_job()[0] == "doing", timeout=30, what="the scoring to start")
            [_, busy_worker, _] = scoring_job()
            pool.start(1)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                assert scoring_job() == ("doing", busy_worker, 0)
                time.sleep(1)
            holder.rollback()
        wait_until(lambda: scoring_job()[0] == "succeeded", timeout=30, what="the scoring to end")
        # One attempt, on its worker (a rescue would have counted a second).
        assert scoring_job() == ("succeeded", busy_worker, 1), pool.logs()
        assert Prediction.objects.get(match=match).points == 3
    finally:
        pool.stop_all()

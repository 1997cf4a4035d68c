"""Faults: killed workers, a restarted database, duplicate storms, overlapping refreshes and a
poison job, each with real worker processes on a real PostgreSQL.

The bar: a committed job runs to completion at least once, its effect is applied exactly once,
and the numbers end exactly right (every prediction's points against the Python reference,
every view row against its own definition run from scratch).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.test import Client
from procrastinate.contrib.django import app
from procrastinate.contrib.django.models import ProcrastinateEvent, ProcrastinateJob
from procrastinate.contrib.django.utils import connector_params

from stats import jobs
from stats.audit import overlapping_job_runs, stats_all_right
from stats.models import JobError, Match, Prediction, ViewRefresh
from stats.processes import (
    free_port,
    port_accepts,
    processes_stop,
    wait_until,
    web_start,
)
from stats.relations import OVERALL, STATS_RELATIONS
from stats.services import match_score_predictions
from tests.support import outage
from tests.support.factories import complete, make_competition, make_match, make_user
from tests.support.jobs import jobs_of, stats_jobs_pending
from tests.support.outage import (
    PrivateServer,
    Reading,
    Supervisor,
    private_server_start,
    private_server_stop,
    read_steadily,
)
from tests.support.workers import Workers, process_env, script_start

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.timeout(150)]

STATS_JOBS = (jobs.CALCULATE_POINTS, jobs.REFRESH_STATS_VIEWS)


# --- Exactly right: points and views against a from-scratch recomputation ----------------------


def backend_waits_on_a_lock(query_fragment: str) -> bool:
    """Whether some session (a worker's) is blocked on a lock while running this statement."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND query ILIKE %s",
            [f"%{query_fragment}%"],
        )
        return bool(cursor.fetchone()[0])


def hold_board_refresh_lock(blocker: psycopg.Connection[Any]) -> None:
    """Refresh the overall board (the refresh's last step) in `blocker`'s open transaction:
    until it ends, a worker's refresh waits there (a materialized view cannot be locked with
    LOCK TABLE)."""
    blocker.execute(f"REFRESH MATERIALIZED VIEW CONCURRENTLY {OVERALL.ranks.name}")


def settle_quietly(match: Match, home_score: int, away_score: int) -> None:
    """Complete a match and score it in this process, queueing no job (an update() sends no
    signal): a league that is already scored when the workers start."""
    Match.objects.filter(pk=match.pk).update(
        status=Match.Status.COMPLETED, home_score=home_score, away_score=away_score
    )
    match_score_predictions(match_id=match.pk)


def predicted_league(matches: int, users: int, *, seed: int = 1) -> list[Match]:
    competition = make_competition()
    fans = [make_user() for _ in range(users)]
    fixtures = [make_match(competition, round=1 + index // 5) for index in range(matches)]
    Prediction.objects.bulk_create(
        Prediction(
            user=fan,
            match=fixture,
            home_score=(fan.pk * 7 + fixture.pk * seed) % 4,
            away_score=(fan.pk * 3 + fixture.pk * 5 * seed) % 3,
        )
        for fan in fans
        for fixture in fixtures
    )
    return fixtures


# --- A worker killed with SIGKILL ----------------------------------------------------------------


def test_worker_killed_mid_scoring_statement_is_rescued(workers: Workers) -> None:
    """SIGKILL a worker while its scoring UPDATE has written part of a match's predictions (it is
    blocked on one row we hold): the half-done transaction dies with it, the job is rescued by
    another worker, and every point ends exactly right, applied once."""
    [match] = predicted_league(matches=1, users=40)
    [doomed] = workers.start()
    with psycopg.connect(**connector_params()) as blocker:
        last = Prediction.objects.filter(match=match).order_by("-id").first()
        assert last is not None
        blocker.execute("SELECT 1 FROM stats_prediction WHERE id = %s FOR UPDATE", [last.pk])
        complete(match, 2, 1)
        wait_until(
            lambda: backend_waits_on_a_lock("UPDATE stats_prediction"),
            timeout=20,
            what="the scoring statement to block half-way",
        )
        workers.kill(doomed)
        killed_at = time.monotonic()
    [killed_job] = jobs_of(jobs.CALCULATE_POINTS, "doing")  # the sweep may queue a follow-up
    workers.start()
    workers.sweep_once_stalled()  # the minute's sweep, without waiting for the clock
    wait_until(stats_all_right, timeout=60, what="the rescued scoring and its refresh")
    recovered_in = time.monotonic() - killed_at
    wait_until(lambda: stats_jobs_pending() == 0, timeout=30, what="the queue to drain")
    killed_job.refresh_from_db()
    assert killed_job.status in {"succeeded", "cancelled"}  # cancelled: superseded (the guard)
    assert jobs_of(jobs.CALCULATE_POINTS, "succeeded")
    match.refresh_from_db()
    assert match.points_calculated_at is not None
    assert match.points_calculated_at >= match.completed_at  # type: ignore[operator]
    print(f"FIGURE kill-mid-scoring: recovered in {recovered_in:.1f} s")


def test_worker_killed_mid_refresh_is_rescued(workers: Workers) -> None:
    """SIGKILL a worker in the middle of the refresh (every step done but the last, blocked on a
    lock we hold): nothing of it was committed, the job is rescued, runs again from the start,
    and every relation ends equal to its recomputation; never two refreshes at once."""
    matches = predicted_league(matches=4, users=15)
    for index, match in enumerate(matches):
        settle_quietly(match, index % 3, 1)
    jobs.enqueue_stats_refresh(delay_seconds=0)
    with psycopg.connect(**connector_params()) as blocker:
        hold_board_refresh_lock(blocker)
        [doomed] = workers.start(STATS_REFRESH_LOCK_TIMEOUT="60")
        wait_until(
            lambda: backend_waits_on_a_lock("REFRESH MATERIALIZED VIEW CONCURRENTLY"),
            timeout=20,
            what="the refresh to block on its last step",
        )
        assert not ViewRefresh.objects.exists()  # the boards commit together, or not at all
        workers.kill(doomed)
        killed_at = time.monotonic()
    [killed_job] = jobs_of(jobs.REFRESH_STATS_VIEWS, "doing")
    workers.start()
    workers.sweep_once_stalled()
    wait_until(
        lambda: ViewRefresh.objects.count() == len(STATS_RELATIONS) and stats_all_right(),
        timeout=60,
        what="the rescued refresh",
    )
    recovered_in = time.monotonic() - killed_at
    wait_until(lambda: stats_jobs_pending() == 0, timeout=30, what="the queue to drain")
    killed_job.refresh_from_db()
    assert killed_job.status in {"succeeded", "cancelled"}  # cancelled: superseded (the guard)
    assert overlapping_job_runs(task_name=jobs.REFRESH_STATS_VIEWS) == 0
    print(f"FIGURE kill-mid-refresh: recovered in {recovered_in:.1f} s")


# --- A duplicate storm --------------------------------------------------------------------------

STORM_SCRIPT = """
import sys
import django
django.setup()
from stats.models import Match
match_id, process, saves = (int(arg) for arg in sys.argv[1:4])
for save in range(saves):
    match = Match.objects.get(pk=match_id)
    match.status = Match.Status.COMPLETED
    match.home_score, match.away_score = (save + process) % 4, (save // 2 + process) % 3
    match.save()
print(saves)
"""


def test_one_match_saved_a_thousand_times_from_four_processes(workers: Workers) -> None:
    """A storm of 1,000 saves of one match, from 4 processes at once, with results changing:
    at most one scoring of the match at a time, none failed, far fewer scorings than saves, and
    the points exact for the result that committed last."""
    [match] = predicted_league(matches=1, users=50)
    workers.start(2)
    started = time.monotonic()
    storm = [
        script_start(STORM_SCRIPT, str(match.pk), str(process), "250", env=process_env())
        for process in range(4)
    ]
    outputs = [process.communicate(timeout=120) for process in storm]
    storm_seconds = time.monotonic() - started
    assert [process.returncode for process in storm] == [0] * 4, outputs
    assert sum(int(out) for out, _ in outputs) == 1000

    wait_until(lambda: stats_jobs_pending() == 0, timeout=60, what="the scorings to drain")
    wait_until(stats_all_right, timeout=30, what="exact points and views")
    scorings = jobs_of(jobs.CALCULATE_POINTS)
    assert jobs_of(jobs.CALCULATE_POINTS, "failed") == []
    assert overlapping_job_runs(task_name=jobs.CALCULATE_POINTS) == 0
    assert 1 <= len(scorings) < 1000
    assert JobError.objects.count() == 0
    match.refresh_from_db()
    assert match.points_calculated_at >= match.completed_at  # type: ignore[operator]
    print(
        f"FIGURE storm: 1000 saves in {storm_seconds:.1f} s, {len(scorings)} scoring jobs, "
        f"{len(jobs_of(jobs.REFRESH_STATS_VIEWS))} refresh jobs"
    )


# --- A long refresh overlapping new triggers ---------------------------------------------------


def test_triggers_during_a_long_refresh_get_exactly_one_follow_up(workers: Workers) -> None:
    """A refresh slowed on purpose (a lock we hold on its last step) while every kind of trigger
    arrives: delayed and immediate enqueues, cron requests, new results being scored. Never two
    refreshes run at once, and the triggers cost exactly one follow-up, which ends the views
    exactly right."""
    matches = predicted_league(matches=6, users=12)
    for index, match in enumerate(matches[:3]):
        settle_quietly(match, index, 0)
    first_id = jobs.enqueue_stats_refresh(delay_seconds=0)
    samples: list[tuple[int, int]] = []

    def sample() -> None:
        samples.append(
            (
                len(jobs_of(jobs.REFRESH_STATS_VIEWS, "doing")),
                len(jobs_of(jobs.REFRESH_STATS_VIEWS, "todo")),
            )
        )

    with psycopg.connect(**connector_params()) as blocker:
        hold_board_refresh_lock(blocker)
        workers.start(2, STATS_REFRESH_LOCK_TIMEOUT="60")
        wait_until(
            lambda: backend_waits_on_a_lock("REFRESH MATERIALIZED VIEW CONCURRENTLY"),
            timeout=20,
            what="the first refresh to block",
        )
        statuses = []
        for round_of_triggers in range(5):
            jobs.enqueue_stats_refresh(delay_seconds=0)
            jobs.enqueue_stats_refresh(delay_seconds=1)
            statuses.append(jobs.request_stats_refresh_now().status)
            sample()
            if round_of_triggers < 3:
                complete(matches[3 + round_of_triggers], 1, round_of_triggers)
        wait_until(
            lambda: not Match.objects.settled().with_stale_points().exists(),
            timeout=20,
            what="the new results to be scored while the refresh is held",
        )
        for _ in range(20):
            sample()
            time.sleep(0.05)
        [follow_up] = jobs_of(jobs.REFRESH_STATS_VIEWS, "todo")
        assert [job.id for job in jobs_of(jobs.REFRESH_STATS_VIEWS, "doing")] == [first_id]
        blocker.rollback()  # the first refresh goes on

    wait_until(
        lambda: ProcrastinateJob.objects.get(pk=follow_up.id).status == "succeeded",
        timeout=40,
        what="the follow-up refresh",
    )
    assert ProcrastinateJob.objects.get(pk=first_id).status == "succeeded"
    assert max(doing for doing, _ in samples) == 1
    assert max(todo for _, todo in samples) == 1
    # A cron request brings a delayed follow-up forward (replacing it) at most once; after
    # that every request finds one due now.
    assert statuses.count("queued") <= 1
    assert set(statuses) <= {"queued", "already_queued"}
    first_ended = ProcrastinateEvent.objects.filter(job_id=first_id, type="succeeded").get().at
    deferred_before = ProcrastinateEvent.objects.filter(
        job__task_name=jobs.REFRESH_STATS_VIEWS, type="deferred", at__lt=first_ended
    )
    assert sorted(deferred_before.values_list("job_id", flat=True)) == [first_id, follow_up.id]
    assert overlapping_job_runs(task_name=jobs.REFRESH_STATS_VIEWS) == 0
    assert stats_all_right()


# --- A poison job ----------------------------------------------------------------------------


def test_poison_job_is_retried_with_growing_waits_then_parked_while_others_flow(
    workers: Workers,
) -> None:
    """A task that always raises a transient error is retried after waits that double (1 s
    base, equal jitter), four attempts in all, then parked as failed with every attempt's
    error kept; results saved meanwhile are scored within seconds."""
    matches = predicted_league(matches=4, users=10)
    workers.start()
    poison_id = app.configure_task("tests.poison").defer(label="p1")
    latencies = []
    for match in matches:
        saved_at = time.monotonic()
        complete(match, 2, 2)
        wait_until(
            lambda: not Prediction.objects.filter(match=match, points__isnull=True).exists(),  # noqa: B023  (called at once)
            timeout=10,
            what="a result to be scored beside the poison job",
        )
        latencies.append(time.monotonic() - saved_at)
        time.sleep(0.5)
    wait_until(
        lambda: ProcrastinateJob.objects.get(pk=poison_id).status == "failed",
        timeout=30,
        what="the poison job to be parked",
    )
    poison = ProcrastinateJob.objects.get(pk=poison_id)
    assert poison.attempts == 4
    errors = list(
        JobError.objects.filter(job_id=poison_id)
        .order_by("attempt")
        .values_list("attempt", "error", "raised_at")
    )
    assert [(attempt, error) for attempt, error, _ in errors] == [
        (attempt, "OperationalError: poison job p1 fails on purpose, every time")
        for attempt in range(4)
    ]
    waits = [
        (later - earlier).total_seconds()
        for (_, _, earlier), (_, _, later) in itertools.pairwise(errors)
    ]
    for attempt, wait in enumerate(waits):
        step = 1.0 * 2**attempt
        assert step / 2 <= wait <= step + 1.0, (attempt, waits)
    assert waits[2] > waits[0]
    events = ProcrastinateEvent.objects.filter(job_id=poison_id)
    assert events.filter(type="deferred_for_retry").count() == 3
    assert events.filter(type="failed").count() == 1
    assert max(latencies) < 5
    wait_until(stats_all_right, timeout=20, what="the other jobs' points and views")
    print(
        f"FIGURE poison: waits {[round(wait, 2) for wait in waits]} s; "
        f"other results scored in at most {max(latencies):.2f} s"
    )


# --- The database restarted under load ---------------------------------------------------------

# Saves results one at a time through Match.save() (so each enqueues its scoring in the same
# transaction), riding out the outage: on a database error it reconnects and saves again.
FEEDER_SCRIPT = """
import sys, time
import django
django.setup()
from django.db import DatabaseError, connections
from stats.models import Match
match_ids = [int(arg) for arg in sys.argv[1].split(",")]
errors = 0
for match_id in match_ids:
    while True:
        try:
            match = Match.objects.get(pk=match_id)
            match.status = Match.Status.COMPLETED
            match.home_score, match.away_score = match_id % 4, (match_id // 4) % 3
            match.save()
            break
        except DatabaseError:
            errors += 1
            connections.close_all()
            time.sleep(0.2)
    time.sleep(0.1)
print(len(match_ids), errors)
"""


@pytest.fixture
def private_server(tmp_path: Path) -> Iterator[PrivateServer]:
    with outage.private_server(tmp_path) as server:
        yield server


def private_stats_settled(server: PrivateServer) -> bool:
    with server.connect() as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = ANY(%s)"
            " AND status IN ('todo', 'doing')",
            [list(STATS_JOBS)],
        )
        [(pending,)] = cursor.fetchall()
        cursor.execute("SELECT count(*) FROM stats_viewrefresh")
        [(refreshed,)] = cursor.fetchall()
        return pending == 0 and refreshed == len(STATS_RELATIONS) and stats_all_right(cursor=cursor)


def test_database_restart_under_load_loses_nothing(private_server: PrivateServer) -> None:
    """Stop the PostgreSQL server (fast shutdown) for 4 s while two workers score a stream of
    results and a web server answers reads, then start it again. Requests during the outage get
    an answer at once (never a hang) and /health says 503; each worker stops by itself when its
    connection goes, and is started again by its supervisor; every committed result ends scored
    exactly once, right, and in the views."""
    server = private_server
    matches = 40
    with server.connect() as conn:
        conn.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name,"
            " email, is_staff, is_active, date_joined)"
            " SELECT '!', false, 'fan' || g, '', '', '', false, true, now()"
            " FROM generate_series(1, 30) AS g"
        )
        conn.execute("INSERT INTO stats_competition (name, slug) VALUES ('Faults', 'faults')")
        conn.execute("INSERT INTO stats_team (name) VALUES ('Home'), ('Away')")
        conn.execute(
            "INSERT INTO stats_match (competition_id, round, home_team_id, away_team_id,"
            " kickoff_at, status)"
            " SELECT (SELECT id FROM stats_competition), 1 + g / 10,"
            " (SELECT id FROM stats_team WHERE name = 'Home'),"
            " (SELECT id FROM stats_team WHERE name = 'Away'), now() + interval '1 day',"
            " 'scheduled'"
            " FROM generate_series(0, %s) AS g",
            [matches - 1],
        )
        conn.execute(
            "INSERT INTO stats_prediction (user_id, match_id, home_score, away_score,"
            " created_at, updated_at)"
            " SELECT u.id, m.id, (u.id * 7 + m.id) % 4, (u.id * 3 + m.id * 5) % 3, now(), now()"
            " FROM auth_user AS u CROSS JOIN stats_match AS m"
        )
        match_ids = [row[0] for row in conn.execute("SELECT id FROM stats_match ORDER BY id")]

    port = free_port()
    web = web_start(port, env=server.environment(), log=server.log_dir / "web.log")
    supervisor = Supervisor(server, count=2)
    stop_reading = threading.Event()
    readings: list[Reading] = []
    reader = threading.Thread(target=read_steadily, args=(port, stop_reading, readings))
    feeder = None
    try:
        wait_until(lambda: port_accepts(port), timeout=30, what="the web server")
        supervisor.start()
        reader.start()
        feeder = script_start(
            FEEDER_SCRIPT, ",".join(map(str, match_ids)), env=server.environment()
        )

        def busy() -> bool:
            supervisor.tend()
            with server.connect() as conn:
                [(workers, scored)] = conn.execute(
                    "SELECT (SELECT count(*) FROM procrastinate_workers),"
                    " (SELECT count(*) FROM procrastinate_jobs WHERE task_name = %s"
                    " AND status = 'succeeded')",
                    [jobs.CALCULATE_POINTS],
                ).fetchall()
            return bool(workers == 2 and scored >= 3)

        wait_until(busy, timeout=30, what="both workers to be scoring")
        supervisor.pause(0.5)
        outage_started = time.monotonic()
        private_server_stop(server.pgdata)
        supervisor.pause(4.0)
        assert private_server_start(server.pgdata) == server.url  # same socket, same port
        with server.connect() as conn:
            [(up_for,)] = conn.execute(
                "SELECT extract(epoch FROM now() - pg_postmaster_start_time())"
            ).fetchall()
        # When the server started, not when its starter returned (up to a second later under load).
        outage_ended = time.monotonic() - float(up_for)

        def fed() -> bool:
            supervisor.tend()
            return feeder.poll() is not None

        wait_until(fed, timeout=60, what="the feeder to save every result")
        out, err = feeder.communicate()
        assert feeder.returncode == 0, err
        saved, feeder_errors = map(int, out.split())
        assert saved == matches

        def recovered() -> bool:
            supervisor.tend()
            return private_stats_settled(server)

        wait_until(recovered, timeout=90, what="every result scored and in the views")
        recovered_in = time.monotonic() - outage_ended
        supervisor.pause(1.0)
        stop_reading.set()
        reader.join(timeout=30)

        with server.connect() as conn:
            job_statuses = dict(
                conn.execute(
                    "SELECT status, count(*) FROM procrastinate_jobs"
                    " WHERE task_name = %s GROUP BY status",
                    [jobs.CALCULATE_POINTS],
                ).fetchall()
            )
            [(completed,)] = conn.execute(
                "SELECT count(*) FROM stats_match WHERE status = 'completed'"
                " AND points_calculated_at >= completed_at"
            ).fetchall()
        assert completed == matches

        # Every worker alive at the outage stopped by itself; the supervisor replaced it.
        assert len(supervisor.exits) >= 2
        assert all(process.poll() is None for process in supervisor.processes)
        during = [r for r in readings if outage_started + 0.5 <= r.at <= outage_ended - 0.5]
        after = [r for r in readings if r.at >= outage_ended + recovered_in]
        assert during, "no request was made during the outage"
        assert max(r.seconds for r in readings) < 6  # connect_timeout is 5 s: no hang
        assert {r.status for r in during if r.path == "/health"} == {503}
        # The API answers at once too, with a 503 (see the test below).
        assert {r.status for r in during if r.path != "/health"} == {503}
        assert {r.status for r in after} == {200}
        print(
            f"FIGURE restart: outage {outage_ended - outage_started:.1f} s, "
            f"{len(during)} requests during it (statuses "
            f"{sorted({(r.path.split('?')[0], r.status) for r in during})}, slowest "
            f"{max(r.seconds for r in during):.2f} s), worker exits "
            f"{[(round(at - outage_started, 1), code) for at, code in supervisor.exits]}, "
            f"feeder retried {feeder_errors} saves, scoring jobs {job_statuses}, "
            f"all right {recovered_in:.1f} s after the restart"
        )
    except BaseException:
        print(supervisor.logs())
        raise
    finally:
        stop_reading.set()
        if reader.is_alive():
            reader.join(timeout=30)
        if feeder is not None and feeder.poll() is None:
            feeder.kill()
            feeder.communicate()
        supervisor.stop_all()
        processes_stop([web])


# --- Requests while the database is down -------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("unreachable_database")
@pytest.mark.parametrize(
    "path", ["/api/leaderboard", "/api/leaderboard?competition=x", "/api/users/1/stats"]
)
def test_api_answers_503_at_once_while_the_database_is_down(path: str) -> None:
    """A read while the database is unreachable: a quick 503 saying so, not a 500."""
    client = Client(raise_request_exception=False)
    started = time.monotonic()
    response = client.get(path)
    assert time.monotonic() - started < 6
    assert response.status_code == 503

"""Public reads from a real streaming replica.

The module runs on a private pair made with the embedded server's binaries: a primary
(`initdb`, migrated) that Django's default connection is moved to for the module, and a
replica of it (`pg_basebackup -R`). It is small whatever the development server holds, and works
the same when DATABASE_URL names a server the suite does not own (CI's second pass).

Reads are counted where they happen: the scans of the league's tables in each server's own
pg_stat_user_tables, never in Python. Replay is paused on the standby (pg_wal_replay_pause) to
make it deterministically behind.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import DatabaseError, connection, connections
from django.test import Client
from psycopg import sql
from pytest_django import DjangoDbBlocker, Settings

from stats.models import Competition
from stats.replica import (
    PRIMARY,
    REPLICA,
    public_read_alias,
    reading_from,
    replica_lag,
    replica_monitor,
)
from tests.support.jobs import insert_worker
from tests.support.leagues import scored_league
from tests.support.replica import LocalServer, StreamingReplica

pytestmark = [
    pytest.mark.replica,
    pytest.mark.django_db(transaction=True, databases=[PRIMARY, REPLICA]),
]

METRICS_TOKEN = "metrics-token-for-the-replica-tests-0123456789"
# /health's details (the replica among them) are for operators.
OPERATOR = {"Authorization": f"Bearer {METRICS_TOKEN}"}
OVERALL_BOARD = ["alice", "bob", "dave", "carol"]


@pytest.fixture(scope="module")
def standby(
    django_db_setup: None, django_db_blocker: DjangoDbBlocker
) -> Iterator[StreamingReplica]:
    """A private primary, migrated, as Django's default database for this module, and its
    streaming replica as the `replica` alias (as DATABASE_REPLICA_URL would configure it, a
    mirror for the test machinery). Everything is put back and deleted at the end."""
    if REPLICA in django_settings.DATABASES:
        pytest.skip("DATABASE_REPLICA_URL is set; these tests make and configure their own replica")
    databases = django_settings.DATABASES  # the very dicts Django's connections are made from
    default = databases[PRIMARY]
    saved = dict(default)
    primary = LocalServer.initdb(durable=False)
    replica = None
    try:
        with primary.connect("postgres") as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(default["NAME"])))
        with django_db_blocker.unblock():
            connections[PRIMARY].close()
            default.update(primary.database_settings(saved))
            call_command("migrate", verbosity=0)
        replica = StreamingReplica.create(
            primary_host=primary.socket_dir, primary_port=primary.port, durable=False
        )
        databases[REPLICA] = {
            **replica.database_settings(saved),
            "TEST": {**saved["TEST"], "MIRROR": PRIMARY},
        }
        yield replica
    finally:
        with django_db_blocker.unblock():
            connections.close_all()
        if REPLICA in databases:
            del connections[REPLICA]
            del databases[REPLICA]
        default.clear()
        default.update(saved)
        if replica is not None:
            replica.destroy()
        primary.destroy()


@pytest.fixture
def replica_db(standby: StreamingReplica, settings: Settings) -> Iterator[StreamingReplica]:
    """The standby, running and caught up state forgotten; every public read re-checks it
    (interval 0), so a test sees each change at once."""
    settings.STATS_REPLICA_CHECK_INTERVAL = 0
    settings.METRICS_TOKEN = METRICS_TOKEN  # /metrics may ask for it; harmless where it does not
    replica_monitor.reset()
    try:
        yield standby
    finally:
        connections[REPLICA].close()
        replica_monitor.reset()
        if not standby.running():  # a test that stopped it failed before starting it again
            standby.start()


def _primary() -> psycopg.Connection[Any]:
    connection.ensure_connection()
    conn: psycopg.Connection[Any] = connection.connection
    return conn


def _league_scans(conn: psycopg.Connection[Any]) -> int:
    """Scans (sequential and index) of the league's tables counted by that server."""
    (scans,) = conn.execute(
        "SELECT COALESCE(sum(seq_scan + COALESCE(idx_scan, 0)), 0)::int"
        " FROM pg_stat_user_tables WHERE relname LIKE 'stats\\_%%'"
    ).fetchone() or (0,)
    return int(scans)


def scans(standby: StreamingReplica) -> tuple[int, int]:
    """(primary, replica) scans of the league's tables so far. Each server counts its own; a
    backend publishes its counts lazily, so Django's connections flush theirs first."""
    for alias in (PRIMARY, REPLICA):
        if alias in connections and connections[alias].connection is not None:
            with contextlib.suppress(DatabaseError), connections[alias].cursor() as cursor:
                cursor.execute("SELECT pg_stat_force_next_flush()")
    database = connection.settings_dict["NAME"]
    with psycopg.connect(**_counting_params(database), autocommit=True) as primary:
        on_primary = _league_scans(primary)
    with standby.connect(database) as replica:
        on_replica = _league_scans(replica)
    return on_primary, on_replica


def _counting_params(database: str) -> dict[str, Any]:
    params = connection.get_connection_params()
    return {
        "host": params["host"],
        "port": params["port"],
        "user": params["user"],
        "dbname": database,
    }


@contextlib.contextmanager
def replay_paused(standby: StreamingReplica) -> Iterator[None]:
    """The standby stops applying WAL (it still receives it) until the block ends.

    Paused inside a replayed transaction that holds an ACCESS EXCLUSIVE lock (the previous
    test's flush TRUNCATEs every table; vacuum truncates too), the standby would keep that lock,
    and reads of the table would wait for the resume: pause again until no such lock is held.
    """
    with standby.connect("postgres") as conn:
        for _ in range(50):
            standby.wait_caught_up(_primary())
            conn.execute("SELECT pg_wal_replay_pause()")
            _wait_paused(conn)
            (locks,) = conn.execute(
                "SELECT count(*) FROM pg_locks"
                " WHERE locktype = 'relation' AND mode = 'AccessExclusiveLock'"
            ).fetchone() or (0,)
            if not locks:
                break
            conn.execute("SELECT pg_wal_replay_resume()")
        try:
            yield
        finally:
            conn.execute("SELECT pg_wal_replay_resume()")


def _wait_paused(conn: psycopg.Connection[Any], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (state,) = conn.execute("SELECT pg_get_wal_replay_pause_state()").fetchone() or ("",)
        if state == "paused":
            return
        time.sleep(0.01)
    raise AssertionError(f"replay did not pause within {timeout} s")


def usernames(response: Any) -> list[str]:
    return [entry["username"] for entry in response.json()["entries"]]


# --- Where the reads go ------------------------------------------------------------------------


def test_public_reads_are_served_by_the_replica(replica_db: StreamingReplica) -> None:
    """The board API, a user's stats and the leaderboard page read the league's tables on the
    replica, and not one scan of them happens on the primary."""
    league = scored_league()
    replica_db.wait_caught_up(_primary())
    client = Client()
    before = scans(replica_db)

    board = client.get("/api/leaderboard")
    alice = client.get(f"/api/users/{league.alice.pk}/stats")
    page = client.get("/leaderboard/?competition=premier")

    after = scans(replica_db)
    assert (board.status_code, alice.status_code, page.status_code) == (200, 200, 200)
    assert usernames(board) == OVERALL_BOARD
    assert alice.json()["overall"]["total_points"] == 5
    assert "Premier League" in page.content.decode()
    assert after[0] == before[0], "the primary scanned league tables during public reads"
    assert after[1] - before[1] >= 3, "the replica did not serve the public reads"


def test_the_admin_and_jobs_read_the_primary_even_with_a_replica(
    replica_db: StreamingReplica, admin_client: Client
) -> None:
    """Outside a public read the replica is never used: the admin's board list scans the primary."""
    scored_league()
    replica_db.wait_caught_up(_primary())
    before = scans(replica_db)
    assert admin_client.get("/admin/stats/usertotal/").status_code == 200
    after = scans(replica_db)
    assert after[0] > before[0]
    assert after[1] == before[1]


def test_writes_go_to_the_primary_and_a_read_that_wrote_reads_its_own_writes(
    replica_db: StreamingReplica,
) -> None:
    """With replay paused the replica cannot have a new row: inside a public read, a write goes
    to the primary and the reads after it are the primary's; a new public read still sees the
    replica (without the row) until replay resumes."""
    with replay_paused(replica_db):
        with reading_from(REPLICA):
            assert not Competition.objects.filter(slug="fresh").exists()
            Competition.objects.create(slug="fresh", name="Fresh")
            assert Competition.objects.filter(slug="fresh").exists()
        with reading_from(REPLICA):
            assert not Competition.objects.filter(slug="fresh").exists()
        assert Competition.objects.filter(slug="fresh").exists()  # outside: the primary
    replica_db.wait_caught_up(_primary())
    with reading_from(REPLICA):
        assert Competition.objects.filter(slug="fresh").exists()


# --- Lag -------------------------------------------------------------------------------------


def test_an_idle_primary_is_no_lag(replica_db: StreamingReplica) -> None:
    """Nothing committed for over a second: the last replayed commit is that old, but the
    replica has replayed everything, so the lag is 0 (positions are compared, not times).
    Autovacuum may commit meanwhile; then the primary was not idle, and the test waits again."""
    scored_league()
    replica_db.wait_caught_up(_primary())
    for _ in range(5):
        time.sleep(1.2)
        lag = replica_lag(using=REPLICA)
        with replica_db.connect("postgres") as conn:
            (commit_age,) = conn.execute(
                "SELECT EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float"
            ).fetchone() or (None,)
        if commit_age is not None and commit_age >= 1.0:
            break
    assert commit_age is not None
    assert commit_age >= 1.0, "the primary never stayed idle for a second"
    assert lag == 0.0
    replica = Client().get("/health", headers=OPERATOR).json()["replica"]
    assert replica["serving_reads"] is True
    assert 0 <= replica["lag_seconds"] < 1


def test_a_replica_too_far_behind_sends_reads_to_the_primary(
    replica_db: StreamingReplica, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Replay paused, a commit on the primary, 1.5 s later: /health and /metrics report the lag,
    public reads go to the primary (logged once), and come back once the replica catches up."""
    settings.STATS_REPLICA_MAX_LAG = 1
    scored_league()
    insert_worker()  # alive: the queued scorings are no reason for a 503 here
    replica_db.wait_caught_up(_primary())
    client = Client()
    assert public_read_alias() == REPLICA
    caplog.set_level(logging.INFO, logger="stats.replica")
    caplog.clear()
    with replay_paused(replica_db):
        Competition.objects.create(slug="late", name="Late")
        time.sleep(1.5)
        before = scans(replica_db)
        for _ in range(3):
            assert usernames(client.get("/api/leaderboard")) == OVERALL_BOARD
        after = scans(replica_db)
        health = client.get("/health", headers=OPERATOR)
        metrics = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")

    assert after[0] > before[0]
    assert after[1] == before[1]
    assert health.status_code == 200
    lagging = health.json()["replica"]
    assert lagging["serving_reads"] is False
    assert 1.5 <= lagging["lag_seconds"] < 30
    assert re.fullmatch(r"replica is \d+ s behind the primary \(limit 1 s\)", lagging["reason"])
    [lag_line] = [
        line
        for line in metrics.content.decode().splitlines()
        if line.startswith("matchday_replica_lag_seconds ")
    ]
    assert float(lag_line.split()[1]) >= 1.5
    assert "matchday_replica_serving_reads 0.0" in metrics.content.decode()

    replica_db.wait_caught_up(_primary())
    assert client.get("/health", headers=OPERATOR).json()["replica"]["serving_reads"] is True
    fell_back, came_back = (record.getMessage() for record in caplog.records)
    assert re.fullmatch(
        r"public reads fall back to the primary: replica is \d+ s behind the primary "
        r"\(limit 1 s\)",
        fell_back,
    )
    assert came_back == "public reads are served by the replica (lag 0.0 s)"


# --- A replica that goes away ------------------------------------------------------------------


def test_a_stopped_replica_sends_reads_to_the_primary(
    replica_db: StreamingReplica, caplog: pytest.LogCaptureFixture
) -> None:
    """With the standby stopped, every public read is answered from the primary, the fallback is
    logged once (not per request), and /health stays 200 and says why, naming no server."""
    league = scored_league()
    insert_worker()  # alive: the queued scorings are no reason for a 503 here
    replica_db.wait_caught_up(_primary())
    client = Client()
    assert usernames(client.get("/api/leaderboard")) == OVERALL_BOARD  # the replica serves
    caplog.set_level(logging.INFO, logger="stats.replica")
    caplog.clear()
    replica_db.stop()

    for _ in range(3):
        assert usernames(client.get("/api/leaderboard")) == OVERALL_BOARD
    assert client.get(f"/api/users/{league.bob.pk}/stats").status_code == 200
    health = client.get("/health", headers=OPERATOR)

    assert health.status_code == 200
    assert health.json()["replica"] == {
        "serving_reads": False,
        "lag_seconds": None,
        "reason": "replica unreachable",
    }
    assert replica_db.socket_dir not in health.content.decode()
    assert [record.getMessage() for record in caplog.records] == [
        "public reads fall back to the primary: replica unreachable"
    ]

    replica_db.start()
    replica_db.wait_caught_up(_primary())
    before = scans(replica_db)
    assert usernames(client.get("/api/leaderboard")) == OVERALL_BOARD
    after = scans(replica_db)
    assert after[1] > before[1]
    assert after[0] == before[0]


def test_a_replica_lost_during_a_request_is_answered_from_the_primary(
    replica_db: StreamingReplica, settings: Settings
) -> None:
    """The replica was fine at the last check and dies before the next one: the read that finds
    it gone runs again on the primary, and the state switches at once."""
    settings.STATS_REPLICA_CHECK_INTERVAL = 3600
    scored_league()
    replica_db.wait_caught_up(_primary())
    client = Client()
    assert usernames(client.get("/api/leaderboard")) == OVERALL_BOARD  # connects to the replica
    replica_db.stop()

    assert usernames(client.get("/api/leaderboard")) == OVERALL_BOARD
    assert public_read_alias() == PRIMARY
    replica_db.start()

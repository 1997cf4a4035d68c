"""The public /health, for load balancers and anyone: cheap and constant (the token is checked
first; no replica probe, no backlog counted; one answer per second at most), `Retry-After` on
its 503, and a database without the project's tables told apart from one that is unreachable."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from procrastinate.contrib.django.utils import connector_params
from pytest_django import Settings

from stats import replica
from stats.replica import ReplicaStatus
from stats.views.ops import recent_health
from tests.support.jobs import insert_job, insert_worker

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-" + "h" * 32
OPERATOR = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(autouse=True)
def _token(settings: Settings) -> None:
    settings.METRICS_TOKEN = TOKEN


def due_jobs(count: int) -> None:
    """`count` jobs due ten minutes ago, as a backlog after an outage looks."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, args, status, scheduled_at)"
            " SELECT 'default', 'stats.tasks.calculate_points', '{}', 'todo',"
            "        now() - interval '10 minutes' FROM generate_series(1, %s)",
            [count],
        )


@pytest.fixture
def hanging_replica(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A configured replica whose probe hangs 2 s (connect_timeout) before failing; returns the
    start time of each probe."""
    probes: list[float] = []

    def check() -> ReplicaStatus:
        probes.append(time.monotonic())
        time.sleep(2)
        return ReplicaStatus("unreachable", None, "replica unreachable")

    monkeypatch.setattr(replica, "replica_configured", lambda: True)
    monkeypatch.setattr(replica.replica_monitor, "check", check)
    return probes


def test_anonymous_health_never_probes_the_replica(
    client: Client, hanging_replica: list[float]
) -> None:
    """Before: each anonymous call probed the replica (2.1 s with one that hangs), so four
    pollers cut the board from 8 to 0.3 requests/s."""
    insert_worker()
    started = time.monotonic()
    response = client.get("/health")
    assert time.monotonic() - started < 1
    assert (response.status_code, response.json()) == (200, {"status": "ok", "reasons": []})
    assert hanging_replica == []
    detailed = client.get("/health", headers=OPERATOR).json()
    assert detailed["replica"]["reason"] == "replica unreachable"
    assert len(hanging_replica) == 1


def test_anonymous_health_counts_no_backlog(client: Client) -> None:
    """Before: an anonymous call ran the whole check (queue counts, the oldest job's wait through
    its events, stale points), whose cost grows with the backlog (320 ms at 100,000 due jobs).
    Now: whether migrations are applied, and live workers (the due jobs only when none is)."""
    due_jobs(20_000)
    insert_worker()
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok", "reasons": []})
    statements = [
        query["sql"] for query in queries.captured_queries if "SAVEPOINT" not in query["sql"]
    ]
    assert not [sql for sql in statements if "procrastinate_events" in sql or "stats_" in sql]
    assert not [sql for sql in statements if "procrastinate_jobs" in sql]
    assert len(statements) <= 5, statements
    # The operator's answer has the figures.
    assert client.get("/health", headers=OPERATOR).json()["queue_depth"]["todo"] == 20_000


def test_anonymous_health_says_no_live_worker_in_general_terms(client: Client) -> None:
    insert_job(scheduled="-5 seconds")
    insert_worker(last_beat="45 seconds")
    response = client.get("/health")
    assert (response.status_code, response.json()) == (
        503,
        {"status": "unhealthy", "reasons": ["no live worker"]},
    )
    assert response["Retry-After"] == "5"
    detailed = client.get("/health", headers=OPERATOR).json()
    assert detailed["reasons"][0].startswith("no live worker: 1 due job(s) wait")


def test_the_public_answer_is_reused_for_a_second(client: Client, settings: Settings) -> None:
    """Pollers cost one check per second and process, however many they are."""
    settings.STATS_HEALTH_CACHE_SECONDS = 1.0
    recent_health.reset()  # an answer an earlier test left
    insert_worker()
    with CaptureQueriesContext(connection) as first:
        assert client.get("/health").status_code == 200
    assert len(first.captured_queries) > 0
    insert_worker(last_beat="1 hour")  # changes nothing the public answer shows
    with CaptureQueriesContext(connection) as again:
        for _ in range(20):
            assert client.get("/health").status_code == 200
    assert again.captured_queries == []
    time.sleep(1.05)
    with CaptureQueriesContext(connection) as later:
        assert client.get("/health").status_code == 200
    assert len(later.captured_queries) > 0
    # The operator's answer is never reused.
    with CaptureQueriesContext(connection) as detailed:
        client.get("/health", headers=OPERATOR)
    assert len(detailed.captured_queries) > 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("unreachable_database")
@pytest.mark.parametrize("headers", [{}, OPERATOR])
def test_a_503_says_when_to_retry(client: Client, headers: dict[str, str]) -> None:
    """Before: no Retry-After on /health's 503."""
    response = client.get("/health", headers=headers)
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["reasons"] == ["database unreachable"]


@pytest.fixture
def empty_database() -> Iterator[None]:
    """The connection pointed at a database of the same server that nobody migrated."""
    name = f"{connection.settings_dict['NAME']}_never_migrated"
    with psycopg.connect(**connector_params(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict["NAME"] = name
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
        with psycopg.connect(**connector_params(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("empty_database")
def test_a_database_without_the_projects_tables_is_not_migrated_not_unreachable(
    client: Client,
) -> None:
    """Before: "database unreachable", although it answered; the way out is `migrate`."""
    public = client.get("/health")
    assert public.status_code == 503
    assert public.json() == {"status": "unhealthy", "reasons": ["database not migrated"]}
    assert public["Retry-After"] == "5"
    detailed = client.get("/health", headers=OPERATOR).json()
    assert detailed["database"] == "not migrated"
    assert detailed["reasons"] == ["database not migrated"]

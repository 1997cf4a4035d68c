"""Operator data stays private: /metrics and the detailed /health need METRICS_TOKEN, and their
queries stay bounded (a statement timeout; no scan of every job) at 200,000 job rows."""

from __future__ import annotations

import time

import pytest
from django.db import OperationalError, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from pytest_django import Settings

from stats import monitoring
from tests.support.jobs import insert_job, insert_worker

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-" + "m" * 32
WRONG = [
    {},
    {"Authorization": ""},
    {"Authorization": TOKEN},
    {"Authorization": f"bearer {TOKEN}"},
    {"Authorization": f"Bearer {TOKEN[:-1]}"},
    {"Authorization": f"Bearer {TOKEN}x"},
    {"Authorization": "Bearer "},
]
RIGHT = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def token(settings: Settings) -> str:
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


@pytest.mark.usefixtures("token")
@pytest.mark.parametrize("headers", WRONG)
def test_metrics_without_the_token_is_401(client: Client, headers: dict[str, str]) -> None:
    """Before: /metrics answered anyone, naming tasks, job counts, failures, views and timings."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert b"matchday_" not in response.content


@pytest.mark.usefixtures("token")
def test_metrics_with_the_token(client: Client) -> None:
    response = client.get("/metrics", headers=RIGHT)
    assert response.status_code == 200
    assert b"matchday_jobs_failed_last_day 0.0" in response.content


@pytest.mark.parametrize("headers", [*WRONG, RIGHT, {"Authorization": "Bearer "}])
def test_metrics_refuse_everyone_while_the_token_is_unset(
    client: Client, settings: Settings, headers: dict[str, str]
) -> None:
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 403
    assert response.content == b"# METRICS_TOKEN is not set; /metrics is disabled\n"


@pytest.mark.parametrize("configured", [True, False])
@pytest.mark.parametrize("headers", WRONG)
def test_public_health_is_the_status_and_its_reasons(
    client: Client, settings: Settings, headers: dict[str, str], configured: bool
) -> None:
    """Before: anyone got the queue depth, job ages and refresh timings. Now a caller without
    the token (or any caller while none is set) gets the status, the reasons in general terms
    and the code a load balancer needs, from the cheap public check (tests/test_public_health.py):
    a job due with no live worker is a 503; how long jobs wait is the operators' business."""
    settings.METRICS_TOKEN = TOKEN if configured else ""
    insert_worker(last_beat="1 hour")  # died without unregistering
    insert_job(scheduled="-10 minutes")
    response = client.get("/health", headers=headers)
    assert response.status_code == 503
    assert response.json() == {"status": "unhealthy", "reasons": ["no live worker"]}
    insert_worker()
    assert client.get("/health", headers=headers).json() == {"status": "ok", "reasons": []}


@pytest.mark.usefixtures("token")
def test_health_in_detail_with_the_token(client: Client) -> None:
    insert_job(scheduled="-10 minutes")
    response = client.get("/health", headers=RIGHT)
    assert response.status_code == 503
    body = response.json()
    assert body["queue_depth"] == {"todo": 1, "doing": 0}
    assert body["oldest_waiting_job_age_seconds"] > 590


def test_operator_queries_run_under_a_statement_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(monitoring, "STATEMENT_TIMEOUT_MS", 50)
    started = time.monotonic()
    with (
        pytest.raises(OperationalError, match="statement timeout"),
        monitoring.bounded_queries(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT pg_sleep(5)")
    assert time.monotonic() - started < 2


# --- At 200,000 job rows -------------------------------------------------------------------------

JOBS = 200_000


def fill_the_job_table() -> int:
    """200,000 jobs of three days as a worker leaves them (a deferred, a started and a final event
    each, 1.3 s apart: ids grow with time), 1 in 1,000 failed, 1 in 997 waiting; then ANALYZE.
    Returns the jobs that failed in the last day, counted from every job (the oracle)."""
    with connection.cursor() as cursor:
        # Bounded here too (it takes seconds): pytest's timeout would leave a runaway statement
        # running in the server, holding locks that every later test's clean-up waits for.
        cursor.execute("SET LOCAL statement_timeout = '120s'")
        cursor.execute(
            """
            INSERT INTO procrastinate_jobs (queue_name, task_name, args, status, attempts)
            SELECT 'default',
                   CASE WHEN i %% 10 = 0 THEN 'stats.tasks.refresh_stats_views'
                        ELSE 'stats.tasks.calculate_points' END,
                   jsonb_build_object('match_id', i),
                   (CASE WHEN i %% 1000 = 0 THEN 'failed' WHEN i %% 997 = 0 THEN 'todo'
                         ELSE 'succeeded' END)::procrastinate_job_status,
                   1
            FROM generate_series(1, %s) AS i
            """,
            [JOBS],
        )
        # Before the events go in: each event's foreign-key check is a planned query, and
        # planned against an empty-looking table it scans all 200,000 jobs, 600,000 times.
        cursor.execute("ANALYZE procrastinate_jobs")
        cursor.execute("SELECT max(id) FROM procrastinate_jobs")
        (last_id,) = cursor.fetchone()
        cursor.execute(
            """
            DELETE FROM procrastinate_events;
            INSERT INTO procrastinate_events (job_id, type, at)
            SELECT job.id, step.type::procrastinate_job_event_type,
                   now() - (%s - job.id) * interval '1.3 seconds' + step.n * interval '0.1 s'
            FROM procrastinate_jobs AS job
            CROSS JOIN LATERAL (VALUES (0, 'deferred'), (1, 'started'),
                (2, CASE WHEN job.status = 'failed' THEN 'failed' ELSE 'succeeded' END))
                AS step (n, type)
            WHERE job.status <> 'todo'
            ORDER BY job.id, step.n;
            ANALYZE procrastinate_events;
            """,
            [last_id],
        )
        cursor.execute(
            """
            SELECT count(*) FROM procrastinate_jobs AS job
            WHERE job.status = 'failed' AND EXISTS (
                SELECT FROM procrastinate_events AS event
                WHERE event.job_id = job.id AND event.type = 'failed'
                  AND event.at >= now() - interval '1 day')
            """
        )
        (failed_last_day,) = cursor.fetchone()
    return int(failed_last_day)


def plans_of(queries: list[str]) -> list[str]:
    plans = []
    with connection.cursor() as cursor:
        for sql in queries:
            if "procrastinate_" not in sql:
                continue
            cursor.execute(f"EXPLAIN {sql}")
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    return plans


@pytest.mark.usefixtures("token")
def test_at_200000_jobs_metrics_and_health_read_no_table_whole(client: Client) -> None:
    """Before: /metrics grouped the whole jobs table (55 ms at 205,000 rows; four scrapers took
    the board page from 1.9 to 104 ms) and counted failures by scanning every job. Now: queued
    jobs through Procrastinate's partial index of waiting and running jobs, failures through the
    index of failure events by time (migration 0010), each statement under the timeout (it
    answers 200, not 503)."""
    failed_last_day = fill_the_job_table()
    assert 50 < failed_last_day < 100
    with CaptureQueriesContext(connection) as metrics_queries:
        metrics = client.get("/metrics", headers=RIGHT)
    assert metrics.status_code == 200
    text = metrics.content.decode()
    assert f"matchday_jobs_failed_last_day {failed_last_day}.0" in text.splitlines()
    assert 'matchday_jobs{status="todo",task="stats.tasks.calculate_points"}' in text
    with CaptureQueriesContext(connection) as health_queries:
        health = client.get("/health", headers=RIGHT)
    assert health.json()["queue_depth"] == {"todo": JOBS // 997, "doing": 0}
    queries = [query["sql"] for query in (*metrics_queries, *health_queries)]
    plans = plans_of(queries)
    assert len(plans) >= 5
    for plan in plans:
        assert "Seq Scan on procrastinate_jobs" not in plan, plan
        assert "Seq Scan on procrastinate_events" not in plan, plan

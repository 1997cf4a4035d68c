"""/health (is the pipeline keeping up?) and /metrics (the same numbers for Prometheus)."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from pytest_django import Settings

from stats.models import Match
from stats.refresh import stats_refresh
from tests.support.factories import (
    settle_without_points,
)
from tests.support.jobs import insert_job, insert_worker
from tests.support.leagues import one_scored_match

pytestmark = pytest.mark.django_db

OPERATOR_TOKEN = "operator-token-for-the-health-tests"


@pytest.fixture
def client(settings: Settings) -> Client:
    """An operator's client: it presents METRICS_TOKEN, so /health answers in detail and /metrics
    answers at all (tests/acceptance/test_operator_access.py: what everyone else gets)."""
    settings.METRICS_TOKEN = OPERATOR_TOKEN
    return Client(HTTP_AUTHORIZATION=f"Bearer {OPERATOR_TOKEN}")


HEALTHY_AND_EMPTY: dict[str, object] = {
    "status": "ok",
    "reasons": [],
    "database": "ok",
    "queue_depth": {"todo": 0, "doing": 0},
    "oldest_waiting_job_age_seconds": None,
    "matches_with_stale_points": 0,
    "oldest_stale_points_age_seconds": None,
    "last_refresh_age_seconds": None,
    "unrefreshed_points_age_seconds": None,
    "live_workers": 0,
}


def test_empty_league_is_healthy(client: Client) -> None:
    """No jobs, no matches, no refresh yet: nothing lags, so 200 with every field present."""
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == HEALTHY_AND_EMPTY
    assert "no-cache" in response["Cache-Control"]


def test_a_scored_and_refreshed_league_is_healthy(client: Client) -> None:
    """After scoring and a refresh, nothing is stale and the refresh age is reported."""
    insert_worker()  # alive, as it would be to run the queued scoring
    one_scored_match()
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["matches_with_stale_points"] == 0
    assert 0 <= body["last_refresh_age_seconds"] < 60
    assert body["unrefreshed_points_age_seconds"] is None


def test_an_old_due_job_makes_it_unhealthy(client: Client) -> None:
    """A job due 10 minutes ago and still waiting (limit 300 s): the workers are not keeping up."""
    insert_job(scheduled="-10 minutes")
    insert_worker()
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["queue_depth"] == {"todo": 1, "doing": 0}
    assert 600 <= body["oldest_waiting_job_age_seconds"] < 660
    [reason] = body["reasons"]
    assert re.fullmatch(
        r"a due job has waited 6\d\d s \(limit 300 s\): are the workers running\?", reason
    )


def test_an_unscheduled_job_waits_from_when_it_was_deferred(client: Client) -> None:
    """Without a scheduled time, a job's wait counts from its `deferred` event."""
    insert_job(deferred="-20 minutes")
    body = client.get("/health").json()
    assert 1200 <= body["oldest_waiting_job_age_seconds"] < 1260
    assert body["status"] == "unhealthy"


def test_a_job_scheduled_for_later_is_not_late(client: Client) -> None:
    """A delayed refresh waiting for its time is queued, not overdue."""
    insert_job(scheduled="+1 minute")
    insert_job(status="doing", scheduled="-1 hour")
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {**HEALTHY_AND_EMPTY, "queue_depth": {"todo": 1, "doing": 1}}


def test_the_queue_age_limit_is_a_setting(client: Client, settings: Settings) -> None:
    """STATS_HEALTH_MAX_QUEUE_AGE, read at each request, moves the limit."""
    insert_job(scheduled="-10 minutes")
    insert_worker()
    settings.STATS_HEALTH_MAX_QUEUE_AGE = 3600
    assert client.get("/health").status_code == 200
    settings.STATS_HEALTH_MAX_QUEUE_AGE = 60
    assert (
        client.get("/health")
        .json()["reasons"][0]
        .endswith("(limit 60 s): are the workers running?")
    )


def test_due_jobs_without_a_live_worker_make_it_unhealthy(client: Client) -> None:
    """A due job and no worker whose heartbeat is within STATS_STALLED_WORKER_TIMEOUT (8 s):
    results would silently stop being scored, so 503 at once, not after the 300 s queue limit.
    A worker beating again makes it healthy."""
    insert_job(scheduled="-5 seconds")
    insert_worker(last_beat="45 seconds")  # died without unregistering
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["live_workers"] == 0
    assert body["reasons"] == [
        "no live worker: 1 due job(s) wait and no worker has beaten within 8 s"
    ]
    insert_worker(last_beat="2 seconds")
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["live_workers"] == 1


def test_no_live_worker_is_fine_while_nothing_is_due(client: Client) -> None:
    """Workers may be stopped while nothing waits, or while only a delayed job waits."""
    insert_job(scheduled="+1 minute")
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["live_workers"] == 0


def test_points_stale_for_over_an_hour_make_it_unhealthy(client: Client) -> None:
    """A result recorded two hours ago whose points were never calculated breaks the one-hour
    promise; one from ten minutes ago is reported but still within it."""
    settle_without_points(ago=timedelta(minutes=10))
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["matches_with_stale_points"] == 1

    settle_without_points(ago=timedelta(hours=2))
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["matches_with_stale_points"] == 2
    assert 7200 <= body["oldest_stale_points_age_seconds"] < 7260
    [reason] = body["reasons"]
    assert re.fullmatch(
        r"2 match\(es\) have stale points, the oldest for 72\d\d s \(limit 3600 s\)", reason
    )


def test_points_missing_from_the_views_for_over_an_hour_make_it_unhealthy(client: Client) -> None:
    """Points scored two hours ago that no refresh has picked up: the refresh job is failing.
    A refresh clears it."""
    insert_worker()  # alive, as it would be to run the queued scoring
    match = one_scored_match(refreshed=False)
    Match.objects.filter(pk=match.pk).update(
        completed_at=timezone.now() - timedelta(hours=2, minutes=1),
        points_calculated_at=timezone.now() - timedelta(hours=2),
    )
    response = client.get("/health")
    assert response.status_code == 503
    [reason] = response.json()["reasons"]
    assert re.fullmatch(
        r"points scored 72\d\d s ago are not in the views yet \(limit 3600 s\): "
        r"is the refresh job failing\?",
        reason,
    )
    stats_refresh()
    assert client.get("/health").status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("unreachable_database")
def test_an_unreachable_database_is_a_quick_503(client: Client) -> None:
    """No database: 503 with the reason, at once (no hang, no 500)."""
    started = time.monotonic()
    response = client.get("/health")
    assert time.monotonic() - started < 6
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "unreachable"
    assert body["status"] == "unhealthy"
    assert body["reasons"] == ["database unreachable"]  # the server's coordinates go to the log


# --- /metrics ----------------------------------------------------------------------------------


def test_metrics_are_prometheus_text_read_from_the_database(client: Client) -> None:
    """Queued jobs by task and status, queue lag, recent failures, stale matches, and each
    view's refresh age and time. Finished jobs are not counted: that would scan every job."""
    insert_job(scheduled="-10 minutes")
    insert_job("stats.tasks.calculate_points", status="failed")
    insert_worker(last_beat="1 second")
    insert_worker(last_beat="1 minute")
    settle_without_points(ago=timedelta(minutes=5))
    stats_refresh()
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    text = response.content.decode()
    for line in (
        "# TYPE matchday_jobs gauge",
        'matchday_jobs{status="todo",task="stats.tasks.refresh_stats_views"} 1.0',
        "matchday_jobs_failed_last_day 1.0",
        "matchday_live_workers 1.0",
        "matchday_stale_matches 1.0",
    ):
        assert line in text.splitlines()
    assert 'matchday_jobs{status="failed"' not in text
    for pattern in (
        r"matchday_oldest_waiting_job_age_seconds 6\d\d\.\d+",
        r"matchday_oldest_stale_match_age_seconds 3\d\d\.\d+",
        r'matchday_view_refresh_age_seconds\{view="stats_overall_rank"\} \d+\.\d+(e-\d+)?',
        r'matchday_view_refresh_duration_seconds\{view="stats_match_summary"\} \d+\.\d+',
    ):
        assert re.search(f"^{pattern}$", text, re.MULTILINE), pattern


def test_metrics_of_an_empty_league(client: Client) -> None:
    """Before anything happened: zeros, and no per-view samples for views never refreshed."""
    text = client.get("/metrics").content.decode()
    assert "matchday_oldest_waiting_job_age_seconds 0.0" in text.splitlines()
    assert "matchday_stale_matches 0.0" in text.splitlines()
    assert "matchday_live_workers 0.0" in text.splitlines()
    assert "matchday_view_refresh_age_seconds{" not in text


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("unreachable_database")
def test_metrics_without_a_database_is_a_503(client: Client) -> None:
    """No database, no numbers: a 503 that says why, not a 500 or a page of zeros."""
    response = client.get("/metrics")
    assert response.status_code == 503
    assert response.content.decode() == "# database unreachable: OperationalError\n"

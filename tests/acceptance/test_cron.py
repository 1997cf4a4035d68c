"""POST /api/cron/update-stats: a bearer secret, fail-closed, one refresh however often called."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from stats import jobs
from tests.support.cron import CRON_SECRET, CRON_URL
from tests.support.jobs import jobs_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _cron_secret(settings: Any) -> None:
    settings.CRON_SECRET = CRON_SECRET


def post(client: Client, authorization: str | None) -> Any:
    headers = {} if authorization is None else {"Authorization": authorization}
    return client.post(CRON_URL, headers=headers)


def test_the_exact_secret_queues_a_refresh_due_now(client: Client) -> None:
    """200 with status, the job that will run, and a timestamp."""
    response = post(client, f"Bearer {CRON_SECRET}")
    [job] = jobs_of(jobs.REFRESH_STATS_VIEWS, "todo")
    body = response.json()
    assert response.status_code == 200
    assert (body["status"], body["job_id"]) == ("queued", job.id)
    # Written as every other time of the API (docs/api.md): UTC, milliseconds, "Z".
    # Before: "2026-12-06T03:57:33.100095+00:00".
    assert re.fullmatch(r"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["timestamp"])
    assert job.scheduled_at is None


def test_two_calls_leave_one_waiting_refresh(client: Client) -> None:
    """The second call finds the first one's job."""
    first = post(client, f"Bearer {CRON_SECRET}").json()
    second = post(client, f"Bearer {CRON_SECRET}").json()
    assert (second["status"], second["job_id"]) == ("already_queued", first["job_id"])
    assert len(jobs_of(jobs.REFRESH_STATS_VIEWS, "todo")) == 1


def test_a_delayed_refresh_is_brought_forward(client: Client) -> None:
    """A refresh waiting for its batching delay is replaced by one due now: still one job."""
    delayed = jobs.enqueue_stats_refresh(delay_seconds=600)
    body = post(client, f"Bearer {CRON_SECRET}").json()
    [job] = jobs_of(jobs.REFRESH_STATS_VIEWS, "todo")
    assert body["status"] == "queued"
    assert body["job_id"] == job.id != delayed
    assert job.scheduled_at is None


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        CRON_SECRET,
        f"bearer {CRON_SECRET}",
        f"BEARER {CRON_SECRET}",
        f"Basic {CRON_SECRET}",
        f"Bearer  {CRON_SECRET}",
        f" Bearer {CRON_SECRET}",
        f"Bearer {CRON_SECRET} ",
        f"Bearer {CRON_SECRET}\t",
        f"Bearer {CRON_SECRET[:-1]}",
        f"Bearer {CRON_SECRET}x",
        f"Bearer {CRON_SECRET.upper()}",
        f"Token {CRON_SECRET}",
        f"Bearer {CRON_SECRET}, Bearer {CRON_SECRET}",
    ],
)
def test_anything_but_the_exact_header_is_401(client: Client, authorization: str | None) -> None:
    """Missing, partial, padded, differently-cased: all refused, nothing queued."""
    response = post(client, authorization)
    assert (response.status_code, response.json()) == (401, {"error": "Unauthorized"})
    assert jobs_of(jobs.REFRESH_STATS_VIEWS, "todo") == []


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(authorization=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255)))
def test_fuzzed_headers_are_never_accepted_and_never_crash(
    client: Client, authorization: str
) -> None:
    """No header but the exact one is ever 200, and none is ever a 500."""
    if authorization == f"Bearer {CRON_SECRET}":
        return
    assert post(client, authorization).status_code == 401


def test_unset_secret_fails_closed(client: Client, settings: Any) -> None:
    """No secret configured: 503 and nothing queued, even with an empty bearer."""
    settings.CRON_SECRET = ""
    for authorization in (None, "Bearer ", "Bearer None"):
        response = post(client, authorization)
        assert response.status_code == 503
        assert "CRON_SECRET is not set" in response.json()["error"]
    assert jobs_of(jobs.REFRESH_STATS_VIEWS, "todo") == []


@pytest.mark.parametrize("method", ["get", "put", "delete", "patch"])
def test_other_methods_are_405(client: Client, method: str) -> None:
    """Only POST triggers a refresh."""
    response = getattr(client, method)(CRON_URL, headers={"Authorization": f"Bearer {CRON_SECRET}"})
    assert response.status_code == 405
    assert jobs_of(jobs.REFRESH_STATS_VIEWS, "todo") == []


def test_csrf_is_not_required(settings: Any) -> None:
    """A scheduler has no CSRF cookie; the bearer secret is the protection."""
    client = Client(enforce_csrf_checks=True)
    assert post(client, f"Bearer {CRON_SECRET}").status_code == 200


def test_short_secret_draws_a_warning(settings: Any) -> None:
    """A guessable secret is flagged by `manage.py check`."""
    from stats.checks import check_secret_lengths

    settings.METRICS_TOKEN = ""
    settings.CRON_SECRET = "short"
    assert [message.id for message in check_secret_lengths()] == ["stats.W001"]
    settings.CRON_SECRET = CRON_SECRET
    assert check_secret_lengths() == []

"""No answer names the database's coordinates: during an outage every endpoint says what is
wrong in general terms, and the host, port, data folder, role and database go to the log only."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from django.test import Client
from procrastinate.contrib.django.utils import connector_params
from pytest_django import Settings

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "cron-" + "x" * 40
TOKEN = "metrics-" + "y" * 40


@dataclass(frozen=True)
class Outage:
    """Where the connection was pointed, and the words no answer may contain."""

    kind: str
    coordinates: tuple[str, ...]


@pytest.fixture(params=["database-url", "embedded"])
def outage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Outage]:
    """A database that cannot be reached, configured as DATABASE_URL names one (host, port,
    role, password, database) or as the embedded server (a data folder where none can start)."""
    saved = dict(connection.settings_dict)
    connection.close()
    if request.param == "database-url":
        # Port 9 (discard): nothing listens, so the refusal is immediate.
        changes = {
            "HOST": "127.0.0.1",
            "PORT": "9",
            "USER": "leaky_role",
            "PASSWORD": "s3cret-password",
            "NAME": "leaky_database",
            "EMBEDDED_PGDATA": "",
        }
        coordinates: tuple[str, ...] = (
            "127.0.0.1",
            ":9",
            "leaky_role",
            "s3cret",
            "leaky_database",
        )
    else:
        (tmp_path / "not-a-folder").write_text("")
        pgdata = tmp_path / "not-a-folder" / "pgdata"  # starting a server here fails at once
        changes = {"EMBEDDED_PGDATA": str(pgdata)}
        coordinates = (str(tmp_path), "not-a-folder", "pgdata", "matchday", "postgres")
    connection.settings_dict.update(changes)
    try:
        yield Outage(request.param, coordinates)
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


def every_answer(client: Client) -> dict[str, tuple[int, str]]:
    """Each endpoint's status and body, the secret and token given where they are asked for."""
    calls = {
        "/health": client.get("/health"),
        "/metrics": client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}"),
        "/api/leaderboard": client.get("/api/leaderboard"),
        "/api/leaderboard?competition&round": client.get(
            "/api/leaderboard", {"competition": "premier", "round": "1"}
        ),
        "/api/users/1/stats": client.get("/api/users/1/stats"),
        "/leaderboard/": client.get("/leaderboard/"),
        "/api/cron/update-stats": client.post(
            "/api/cron/update-stats", HTTP_AUTHORIZATION=f"Bearer {SECRET}"
        ),
        "/admin/login/": client.post("/admin/login/", {"username": "a", "password": "b"}),
    }
    return {
        name: (response.status_code, response.content.decode(errors="replace"))
        for name, response in calls.items()
    }


def test_no_answer_names_the_database_during_an_outage(
    outage: Outage, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Every endpoint answers (503, or the admin's own error page), never with a 500, and no
    body carries a host, port, path, role, password or database name; the log has them."""
    settings.CRON_SECRET = SECRET
    settings.METRICS_TOKEN = TOKEN
    client = Client(raise_request_exception=False)
    with caplog.at_level(logging.WARNING):
        answers = every_answer(client)
    for name, (status, body) in answers.items():
        assert status in {200, 503}, (name, status, body)
        leaked = [word for word in outage.coordinates if word in body]
        assert not leaked, (name, leaked, body)
    assert answers["/health"][0] == 503
    # With the token: the detailed answer (anonymous callers get the status and reasons only).
    health = client.get("/health", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").json()
    assert health["reasons"] == ["database unreachable"]
    assert health["database"] == "unreachable"
    # The operator still learns where it tried, from the log.
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "health check: database unreachable" in logged
    assert outage.coordinates[0] in logged


@pytest.mark.parametrize("debug", [False, True], ids=["production", "development"])
def test_the_players_api_answers_503_during_an_outage(
    outage: Outage, settings: Settings, debug: bool
) -> None:
    """The players' endpoints (django-ninja) answer an outage as the rest of the API does: a 503
    in general terms, in development (`make web`, DEBUG on) as in production. Before: with DEBUG
    on, the library answered the database error itself, as a 500."""
    settings.DEBUG = debug
    client = Client(raise_request_exception=False)
    bearer = {"HTTP_AUTHORIZATION": "Bearer mdt_" + "z" * 43}
    answers = {
        "GET /api/me": client.get("/api/me", **bearer),  # type: ignore[arg-type]
        "PUT /api/matches/1/prediction": client.put(
            "/api/matches/1/prediction",
            {"home_score": 1, "away_score": 0},
            content_type="application/json",
            **bearer,  # type: ignore[arg-type]
        ),
        "GET /api/matches/1/summary": client.get("/api/matches/1/summary"),
        "GET /api/openapi.json": client.get("/api/openapi.json"),
    }
    for name, response in answers.items():
        body = response.content.decode(errors="replace")
        if name == "GET /api/openapi.json":  # needs no database
            assert response.status_code == 200, (name, body)
            continue
        assert (response.status_code, response.json()) == (
            503,
            {"error": "the database is unavailable; try again shortly"},
        ), (name, body)
        assert response["Retry-After"] == "5"
        leaked = [word for word in outage.coordinates if word in body]
        assert not leaked, (name, leaked, body)


def test_a_database_too_slow_to_answer_is_said_so_in_general_terms(client: Client) -> None:
    """A health query held past its 5 s statement timeout (here: a table locked by another
    session) is a quick 503 'database too slow to answer', not a hang and not the SQL."""
    with psycopg.connect(**connector_params()) as blocker:
        blocker.execute("LOCK TABLE procrastinate_workers IN ACCESS EXCLUSIVE MODE")
        response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["reasons"] == ["database too slow to answer"]

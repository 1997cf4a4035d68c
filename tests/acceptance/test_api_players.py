"""The players' API over real HTTP (the test client through every middleware): sign-in by
session (CSRF on writes) and by bearer token, predictions with the kickoff rule, a player's own
standing and predictions, a match's public summary, and the OpenAPI document."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from stats.models import ApiToken, Match, Prediction
from stats.refresh import stats_refresh
from stats.services import match_score_predictions
from tests.support.factories import complete, make_match, make_prediction, make_user
from tests.support.leagues import scored_league

pytestmark = pytest.mark.django_db

PASSWORD = "a-player's-password"


def put(client: Client, path: str, body: Any, **headers: str) -> Any:
    return client.put(path, json.dumps(body), content_type="application/json", headers=headers)


def token_for(client: Client, username: str, password: str = PASSWORD) -> str:
    response = client.post(
        "/api/auth/token",
        {"username": username, "password": password, "name": "phone"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    return str(response.json()["token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def player() -> User:
    return User.objects.create_user("pat", password=PASSWORD)


# --- Tokens ------------------------------------------------------------------------------------


def test_a_token_is_issued_for_username_and_password_and_stored_hashed(player: User) -> None:
    client = Client()
    token = token_for(client, "pat")
    stored = ApiToken.objects.get(user=player)
    assert token not in {stored.key_hash, stored.prefix}
    assert len(stored.key_hash) == 64
    assert token.startswith(stored.prefix)
    assert stored.name == "phone"
    assert stored.revoked_at is None
    response = client.get("/api/me", headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["user"] == {"id": player.pk, "username": "pat"}


@pytest.mark.usefixtures("player")
def test_a_wrong_password_gets_no_token() -> None:
    response = Client().post(
        "/api/auth/token",
        {"username": "pat", "password": "guess"},
        content_type="application/json",
    )
    assert (response.status_code, response.json()) == (
        401,
        {"error": "wrong username or password"},
    )
    assert not ApiToken.objects.exists()


@pytest.mark.usefixtures("player")
def test_token_requests_are_throttled_like_the_admin_login() -> None:
    """Five wrong passwords from one address lock that (username, address) pair out, even with
    the right password afterwards; another address is not locked."""
    attacker = Client(HTTP_X_REAL_IP="203.0.113.7")

    def attempt(client: Client, password: str) -> int:
        return client.post(
            "/api/auth/token",
            {"username": "pat", "password": password},
            content_type="application/json",
        ).status_code

    assert [attempt(attacker, f"guess-{n}") for n in range(5)] == [401] * 4 + [429]
    locked = attacker.post(
        "/api/auth/token",
        {"username": "pat", "password": PASSWORD},
        content_type="application/json",
    )
    assert locked.status_code == 429
    assert locked["Content-Type"] == "application/json"
    assert "error" in locked.json()
    # When to come back, as the groups' join throttle says it (before: no Retry-After).
    assert locked["Retry-After"] == "900"
    assert attempt(Client(HTTP_X_REAL_IP="198.51.100.9"), PASSWORD) == 201


def test_a_revoked_token_and_a_wrong_one_are_refused(player: User) -> None:
    client = Client()
    token = token_for(client, "pat")
    assert client.get("/api/me", headers=bearer(token + "x")).status_code == 401
    assert client.get("/api/me", headers=bearer("")).status_code == 401
    revoked = client.delete("/api/auth/token", headers=bearer(token))
    assert (revoked.status_code, revoked.json()) == (200, {"revoked": True})
    assert ApiToken.objects.get(user=player).revoked_at is not None
    refused = client.get("/api/me", headers=bearer(token))
    assert (refused.status_code, refused.json()) == (401, {"error": "Unauthorized"})
    assert refused["WWW-Authenticate"] == "Bearer"


def test_a_token_revoked_in_the_admin_stops_working(player: User, admin_client: Client) -> None:
    token = token_for(Client(), "pat")
    stored = ApiToken.objects.get(user=player)
    response = admin_client.post(
        "/admin/stats/apitoken/",
        {"action": "revoke_tokens", "_selected_action": [stored.pk]},
    )
    assert response.status_code == 302
    assert Client().get("/api/me", headers=bearer(token)).status_code == 401
    listing = admin_client.get("/admin/stats/apitoken/")
    assert stored.prefix in listing.content.decode()


def test_an_inactive_players_token_is_refused(player: User) -> None:
    token = token_for(Client(), "pat")
    User.objects.filter(pk=player.pk).update(is_active=False)
    assert Client().get("/api/me", headers=bearer(token)).status_code == 401


def test_without_any_credentials_the_players_endpoints_answer_401() -> None:
    client = Client()
    for method, path in (
        ("get", "/api/me"),
        ("get", "/api/me/predictions"),
        ("put", "/api/matches/1/prediction"),
        ("post", "/api/groups"),
    ):
        response = getattr(client, method)(path)
        assert (response.status_code, response.json()) == (401, {"error": "Unauthorized"}), path


# --- Session and CSRF --------------------------------------------------------------------------


def test_a_session_reads_without_csrf_but_writes_only_with_it(player: User) -> None:
    match = make_match()
    client = Client(enforce_csrf_checks=True)
    client.force_login(player)
    assert client.get("/api/me").status_code == 200

    refused = put(client, f"/api/matches/{match.pk}/prediction", {"home_score": 1, "away_score": 0})
    assert refused.status_code == 403
    assert refused.json() == {"error": "CSRF check Failed"}
    assert not Prediction.objects.exists()

    client.get("/login/")  # a page with a form sets the CSRF cookie
    csrf = client.cookies["csrftoken"].value
    accepted = put(
        client,
        f"/api/matches/{match.pk}/prediction",
        {"home_score": 1, "away_score": 0},
        **{"X-CSRFToken": csrf},
    )
    assert accepted.status_code == 201
    assert Prediction.objects.get().user == player


def test_a_token_write_needs_no_csrf(player: User) -> None:
    match = make_match()
    client = Client(enforce_csrf_checks=True)
    token = token_for(Client(), "pat")
    response = put(
        client,
        f"/api/matches/{match.pk}/prediction",
        {"home_score": 2, "away_score": 2},
        **bearer(token),
    )
    assert response.status_code == 201


# --- Predictions -------------------------------------------------------------------------------


@pytest.fixture
def signed_in(player: User) -> Client:
    client = Client()
    client.force_login(player)
    return client


def test_put_creates_then_changes_a_prediction(signed_in: Client, player: User) -> None:
    match = make_match()
    path = f"/api/matches/{match.pk}/prediction"
    created = put(signed_in, path, {"home_score": 1, "away_score": 0})
    assert created.status_code == 201
    body = created.json()
    assert {key: body[key] for key in ("match_id", "home_score", "away_score", "points")} == {
        "match_id": match.pk,
        "home_score": 1,
        "away_score": 0,
        "points": None,
    }
    changed = put(signed_in, path, {"home_score": 3, "away_score": 3})
    assert changed.status_code == 200
    assert changed.json()["home_score"] == 3
    assert put(signed_in, path, {"home_score": 3, "away_score": 3}).status_code == 200
    assert Prediction.objects.filter(user=player).values_list("home_score", "away_score").get() == (
        3,
        3,
    )


def test_after_kickoff_put_answers_409_with_the_reason(signed_in: Client) -> None:
    match = make_match(kickoff_at=timezone.now() - timedelta(minutes=1))
    response = put(
        signed_in, f"/api/matches/{match.pk}/prediction", {"home_score": 1, "away_score": 0}
    )
    assert response.status_code == 409
    assert response.json() == {
        "error": f"predictions for match {match.pk} ({match.home_team} v {match.away_team}) are "
        f"closed: it kicked off at {match.kickoff_at:%Y-%m-%d %H:%M} UTC"
    }
    assert not Prediction.objects.exists()


def test_a_match_no_longer_scheduled_answers_409(signed_in: Client, player: User) -> None:
    match = make_match()
    make_prediction(player, match, 1, 1)
    Match.objects.filter(pk=match.pk).update(status=Match.Status.POSTPONED)
    response = put(
        signed_in, f"/api/matches/{match.pk}/prediction", {"home_score": 1, "away_score": 1}
    )
    assert response.status_code == 409
    assert "postponed" in response.json()["error"]


@pytest.mark.parametrize(
    "body",
    [
        {"home_score": -1, "away_score": 0},
        {"home_score": 1},
        {"home_score": "one", "away_score": 0},
        {"home_score": "2", "away_score": 0},  # a string, not a number (before: taken as 2)
        {"home_score": True, "away_score": 0},  # before: taken as 1
        {"home_score": 1, "away_score": 0, "points": 3},
        {"home_score": 100, "away_score": 0},
        [1, 0],
    ],
)
def test_a_malformed_body_answers_400(signed_in: Client, body: Any) -> None:
    match = make_match()
    response = put(signed_in, f"/api/matches/{match.pk}/prediction", body)
    assert response.status_code == 400
    assert set(response.json()) == {"error"}
    assert not Prediction.objects.exists()


def test_a_body_that_is_not_json_answers_400(signed_in: Client) -> None:
    match = make_match()
    response = signed_in.put(
        f"/api/matches/{match.pk}/prediction", "{home", content_type="application/json"
    )
    assert response.status_code == 400
    assert set(response.json()) == {"error"}


def test_an_unknown_match_answers_404(signed_in: Client) -> None:
    response = put(signed_in, "/api/matches/999999/prediction", {"home_score": 1, "away_score": 0})
    assert (response.status_code, response.json()) == (
        404,
        {"error": "no match has the id 999999"},
    )


def test_my_predictions_carry_their_points(signed_in: Client, player: User) -> None:
    played, upcoming = make_match(round=1), make_match(round=2)
    put(signed_in, f"/api/matches/{played.pk}/prediction", {"home_score": 2, "away_score": 0})
    put(signed_in, f"/api/matches/{upcoming.pk}/prediction", {"home_score": 0, "away_score": 0})
    other = make_user()
    make_prediction(other, played, 0, 0)
    complete(played, 3, 1)
    match_score_predictions(match_id=played.pk)
    response = signed_in.get("/api/me/predictions")
    assert response.status_code == 200
    rows = {row["match_id"]: row for row in response.json()}
    assert set(rows) == {played.pk, upcoming.pk}
    assert (rows[played.pk]["points"], rows[upcoming.pk]["points"]) == (2, None)
    assert rows[played.pk]["match_home_score"] == 3
    assert rows[played.pk]["status"] == "completed"


# --- A player's standing and a match's summary --------------------------------------------------


def test_me_has_totals_ranks_and_groups() -> None:
    league = scored_league()
    client = Client()
    client.force_login(league.carol)
    group = client.post("/api/groups", {"name": "Office"}, content_type="application/json")
    assert group.status_code == 201
    body = client.get("/api/me").json()
    assert body["user"] == {"id": league.carol.pk, "username": "carol"}
    assert body["overall"] == {
        "rank": 4,
        "previous_rank": 3,
        "total_points": 3,
        "predictions_scored": 3,
        "exact_scores": 0,
        "correct_outcomes": 2,
    }
    assert [
        (c["competition_slug"], c["rank"], c["previous_rank"]) for c in body["competitions"]
    ] == [
        ("cup", 2, None),
        ("premier", 3, 3),
    ]
    assert body["groups"] == [
        {"slug": group.json()["slug"], "name": "Office", "members": 1, "is_owner": True}
    ]


def test_me_for_a_player_with_nothing_scored_has_zeros(signed_in: Client) -> None:
    body = signed_in.get("/api/me").json()
    assert body["overall"] == {
        "rank": None,
        "previous_rank": None,
        "total_points": 0,
        "predictions_scored": 0,
        "exact_scores": 0,
        "correct_outcomes": 0,
    }
    assert body["competitions"] == body["groups"] == []


def test_a_matchs_summary_is_public() -> None:
    match = make_match()
    for home, away in ((2, 1), (0, 0), (1, 3), (2, 1)):
        make_prediction(make_user(), match, home, away)
    complete(match, 2, 1)
    match_score_predictions(match_id=match.pk)
    stats_refresh()
    response = Client().get(f"/api/matches/{match.pk}/summary")
    assert response.status_code == 200
    body = response.json()
    assert {key: body[key] for key in body if key not in {"kickoff_at", "refreshed_at"}} == {
        "match_id": match.pk,
        "competition": match.competition.slug,
        "round": 1,
        "home_team": match.home_team.name,
        "away_team": match.away_team.name,
        "status": "completed",
        "home_score": 2,
        "away_score": 1,
        "predictions_count": 4,
        "home_win_predictions": 2,
        "draw_predictions": 1,
        "away_win_predictions": 1,
        "exact_scores": 2,
        "average_points": 1.5,
    }
    assert body["refreshed_at"] is not None
    missing = Client().get("/api/matches/999999/summary")
    assert (missing.status_code, missing.json()) == (404, {"error": "no match has the id 999999"})


# --- The document ------------------------------------------------------------------------------


def api_routes() -> set[tuple[str, str]]:
    """Every /api/ URL pattern the project serves, as OpenAPI writes paths ({name})."""
    import re

    routes: set[tuple[str, str]] = set()

    def walk(patterns: list[URLPattern | URLResolver], prefix: str) -> None:
        for pattern in patterns:
            text = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, text)
            elif text.startswith("api/"):
                routes.add(("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", text), ""))

    walk(get_resolver().url_patterns, "")
    return routes


def test_the_openapi_document_describes_every_api_endpoint() -> None:
    response = Client().get("/api/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    # The document itself, and the API's root (a 404 that serves nothing) need no entry.
    served = {path for path, _ in api_routes()} - {"/api/openapi.json", "/api/"}
    assert served <= set(document["paths"]), served - set(document["paths"])
    operations = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    assert operations >= {
        ("GET", "/api/leaderboard"),
        ("GET", "/api/users/{user_id}/stats"),
        ("POST", "/api/cron/update-stats"),
        ("POST", "/api/auth/token"),
        ("DELETE", "/api/auth/token"),
        ("GET", "/api/me"),
        ("GET", "/api/me/predictions"),
        ("PUT", "/api/matches/{match_id}/prediction"),
        ("GET", "/api/matches/{match_id}/summary"),
        ("POST", "/api/groups"),
        ("POST", "/api/groups/join"),
        ("POST", "/api/groups/{slug}/leave"),
        ("GET", "/api/groups/{slug}/leaderboard"),
    }
    # Every reference resolves: the hand-written endpoints' schemas are in the document too.
    text = json.dumps(document)
    import re

    for name in set(re.findall(r'"#/components/schemas/(\w+)"', text)):
        assert name in document["components"]["schemas"], name


def test_a_missing_body_is_named_in_the_reason(signed_in: Client) -> None:
    """Before: `{"error": "Field required"}`, without saying what was missing."""
    match = make_match()
    response = signed_in.put(
        f"/api/matches/{match.pk}/prediction", "", content_type="application/json"
    )
    assert (response.status_code, response.json()) == (400, {"error": "body: Field required"})

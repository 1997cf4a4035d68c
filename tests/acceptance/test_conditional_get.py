"""Board answers carry ETag/Last-Modified from the latest refresh; a matching conditional GET
is a 304 that costs one query, until a refresh moves the boards."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils.http import http_date
from pytest_django import DjangoAssertNumQueries

from stats.models import ViewRefresh
from stats.refresh import stats_refresh
from stats.services import match_score_predictions
from tests.support.factories import complete, make_match, make_prediction
from tests.support.leagues import League, scored_league

pytestmark = pytest.mark.django_db

BOARD = "/api/leaderboard"


def urls(league: League) -> list[str]:
    return [
        BOARD,
        f"{BOARD}?competition=premier",
        f"{BOARD}?competition=premier&round=2",
        f"/api/users/{league.alice.pk}/stats",
        "/leaderboard/",
    ]


def test_a_board_answer_carries_the_latest_refresh_as_its_validators(client: Client) -> None:
    league = scored_league()
    latest = ViewRefresh.objects.order_by("-refreshed_at").first()
    assert latest is not None
    for url in urls(league):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["ETag"].startswith('W/"'), url
        assert response["Last-Modified"] == http_date(int(latest.refreshed_at.timestamp())), url
        assert "no-cache" in response["Cache-Control"], url
    assert "private" in client.get("/leaderboard/")["Cache-Control"]
    assert "private" not in client.get(BOARD)["Cache-Control"]


def test_a_matching_conditional_get_is_a_304_after_one_query(
    client: Client, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    league = scored_league()
    for url in urls(league):
        etag = client.get(url)["ETag"]
        with django_assert_num_queries(1):
            response = client.get(url, headers={"If-None-Match": etag})
        assert response.status_code == 304, url
        assert response.content == b""
        assert response["ETag"] == etag


def test_if_modified_since_alone_is_answered_too(client: Client) -> None:
    scored_league()
    last_modified = client.get(BOARD)["Last-Modified"]
    assert client.get(BOARD, headers={"If-Modified-Since": last_modified}).status_code == 304


def test_a_refresh_that_moves_the_boards_gives_a_full_answer_and_a_new_etag(
    client: Client,
) -> None:
    league = scored_league()
    before = {url: client.get(url)["ETag"] for url in urls(league)}
    points_before = carol_points(client, league)
    match = make_match(league.premier, round=2)
    make_prediction(league.carol, match, 4, 4)
    complete(match, 4, 4)
    match_score_predictions(match_id=match.pk)
    # Scored but not refreshed: the boards have not moved, the validators hold.
    assert client.get(BOARD, headers={"If-None-Match": before[BOARD]}).status_code == 304
    stats_refresh()
    for url, etag in before.items():
        response = client.get(url, headers={"If-None-Match": etag})
        assert response.status_code == 200, url
        assert response["ETag"] != etag, url
    assert carol_points(client, league) > points_before  # the full answer is the new one


def carol_points(client: Client, league: League) -> int:
    entries = client.get(BOARD).json()["entries"]
    points: int = next(e["total_points"] for e in entries if e["user_id"] == league.carol.pk)
    return points


def test_a_stale_or_foreign_etag_gets_the_full_answer(client: Client) -> None:
    scored_league()
    response = client.get(BOARD, headers={"If-None-Match": 'W/"0"'})
    assert response.status_code == 200
    assert response.json()["entries"]


def test_the_page_of_a_signed_in_player_has_its_own_etag(client: Client) -> None:
    league = scored_league()
    anonymous = client.get("/leaderboard/")["ETag"]
    client.force_login(league.alice)
    signed_in = client.get("/leaderboard/")
    assert signed_in["ETag"] != anonymous
    assert b"You are ranked" in signed_in.content
    # The anonymous page's validator does not stand for the signed-in player's page.
    assert client.get("/leaderboard/", headers={"If-None-Match": anonymous}).status_code == 200
    assert (
        client.get("/leaderboard/", headers={"If-None-Match": signed_in["ETag"]}).status_code == 304
    )


def test_errors_and_boards_never_refreshed_carry_no_validator(client: Client) -> None:
    assert "ETag" not in client.get(BOARD)  # no refresh yet
    scored_league()
    past_the_end = client.get(BOARD, {"page": "9"})
    assert past_the_end.status_code == 404
    assert "ETag" not in past_the_end
    assert "ETag" not in client.get("/api/users/999999/stats")

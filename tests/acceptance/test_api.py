"""The leaderboard and user-stats JSON API, read from the materialized views."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.serializers.json import DjangoJSONEncoder
from django.test import Client
from pytest_django import DjangoAssertNumQueries

from stats.models import ViewRefresh
from tests.support.factories import (
    make_competition,
    make_match,
    make_prediction,
    make_user,
)
from tests.support.leagues import scored_league

pytestmark = pytest.mark.django_db


def refreshed_at(view_name: str) -> str:
    """A view's last refresh time as the API writes it."""
    moment: datetime = ViewRefresh.objects.get(view_name=view_name).refreshed_at
    return str(DjangoJSONEncoder().default(moment))


def one_page(
    view_name: str,
    entries: list[dict[str, Any]],
    *,
    competition: str | None = None,
    round: int | None = None,
) -> dict[str, Any]:
    """The answer for a board that fits on one page of the default size."""
    return {
        "competition": competition,
        "round": round,
        "entries": entries,
        "page": 1,
        "page_size": 25,
        "total_entries": len(entries),
        "total_pages": 1,
        "refreshed_at": refreshed_at(view_name),
    }


def entry(user: User, rank: int, points: int, exact: int, **more: int | None) -> dict[str, Any]:
    return {
        "rank": rank,
        "user_id": user.pk,
        "username": user.username,
        "total_points": points,
        "exact_scores": exact,
        **more,
    }


def test_overall_board_lists_every_scored_player_by_rank(client: Client) -> None:
    """The overall board: RANK() ties share a rank, then come in user order; all view columns."""
    league = scored_league()
    response = client.get("/api/leaderboard")
    assert response.status_code == 200
    assert response.json() == one_page(
        "stats_overall_rank",
        [
            entry(league.alice, 1, 5, 1, predictions_scored=2, correct_outcomes=2, previous_rank=1),
            entry(league.bob, 1, 5, 1, predictions_scored=2, correct_outcomes=2, previous_rank=1),
            # The cup final came last: before it dave had 0 points, behind carol's 1.
            entry(league.dave, 3, 3, 1, predictions_scored=2, correct_outcomes=1, previous_rank=4),
            entry(league.carol, 4, 3, 0, predictions_scored=3, correct_outcomes=2, previous_rank=3),
        ],
    )


def test_competition_board_ranks_within_the_competition(client: Client) -> None:
    """?competition=<slug> reads the competition board, with ranks counted inside it."""
    league = scored_league()
    response = client.get("/api/leaderboard", {"competition": "cup"})
    assert response.status_code == 200
    assert response.json() == one_page(
        "stats_competition_rank",
        [
            # The cup's latest round is its first: nobody had anything before it.
            entry(
                league.dave, 1, 3, 1, predictions_scored=1, correct_outcomes=1, previous_rank=None
            ),
            entry(
                league.carol, 2, 2, 0, predictions_scored=1, correct_outcomes=1, previous_rank=None
            ),
        ],
        competition="cup",
    )


def test_round_board_has_every_boards_columns(client: Client) -> None:
    """&round=<n> reads one round of a competition, with the same columns as every board."""
    league = scored_league()
    response = client.get("/api/leaderboard", {"competition": "premier", "round": "2"})
    assert response.status_code == 200
    assert response.json() == one_page(
        "stats_round_rank",
        [
            entry(
                league.bob, 1, 3, 1, predictions_scored=1, correct_outcomes=1, previous_rank=None
            ),
            entry(
                league.alice, 2, 2, 0, predictions_scored=1, correct_outcomes=1, previous_rank=None
            ),
            entry(
                league.carol, 3, 0, 0, predictions_scored=1, correct_outcomes=0, previous_rank=None
            ),
        ],
        competition="premier",
        round=2,
    )


def test_pages_split_the_board_in_rank_order(client: Client) -> None:
    """page and page_size slice the board; the last page may be short."""
    league = scored_league()
    first = client.get("/api/leaderboard", {"page_size": "3"}).json()
    second = client.get("/api/leaderboard", {"page_size": "3", "page": "2"}).json()
    assert [row["username"] for row in first["entries"]] == ["alice", "bob", "dave"]
    assert second["entries"] == [
        entry(league.carol, 4, 3, 0, predictions_scored=3, correct_outcomes=2, previous_rank=3)
    ]
    assert (second["page"], second["page_size"], second["total_entries"]) == (2, 3, 4)
    assert first["total_pages"] == second["total_pages"] == 2


def test_a_page_costs_one_query(
    client: Client, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    """The board's size, its ranks, the usernames and the latest refresh (the validators and
    the refresh time it shows) come in the page's one query: then only the competition."""
    scored_league()
    with django_assert_num_queries(2):
        response = client.get("/api/leaderboard", {"competition": "premier", "page_size": "2"})
    assert len(response.json()["entries"]) == 2


def test_a_players_stats_cost_one_query(
    client: Client, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    """One statement: the account, the boards the player scored on (which make them a
    player), each board's row with its rank, and the refresh time (the validators' stamp, shown
    as `refreshed_at`)."""
    league = scored_league()
    with django_assert_num_queries(1):
        response = client.get(f"/api/users/{league.carol.pk}/stats")
    assert len(response.json()["rounds"]) == 3


def test_page_past_the_end_is_not_found(client: Client) -> None:
    """A page after the last one is a 404 that says how many pages there are."""
    scored_league()
    response = client.get("/api/leaderboard", {"page": "2"})
    assert response.status_code == 404
    assert response.json() == {"error": "page 2 is past the end: the board has 1 page(s) of 25"}


def test_first_page_of_an_empty_board_is_empty_not_missing(client: Client) -> None:
    """Before anything is scored, page 1 is an empty page (200), page 2 is not found."""
    make_competition("quiet")
    response = client.get("/api/leaderboard", {"competition": "quiet"})
    assert response.status_code == 200
    body = response.json()
    assert (body["entries"], body["total_entries"], body["total_pages"]) == ([], 0, 1)
    assert client.get("/api/leaderboard", {"page": "2"}).status_code == 404


def test_unknown_competition_is_not_found(client: Client) -> None:
    """A well-formed slug no competition has: 404, for the competition and its rounds."""
    scored_league()
    for params in ({"competition": "nope"}, {"competition": "nope", "round": "1"}):
        response = client.get("/api/leaderboard", params)
        assert response.status_code == 404
        assert response.json() == {"error": "no competition has the slug 'nope'"}


def test_a_round_without_matches_is_an_empty_board(client: Client) -> None:
    """A round the competition has not played yet is an empty board, not an error."""
    scored_league()
    response = client.get("/api/leaderboard", {"competition": "premier", "round": "30"})
    assert response.status_code == 200
    assert response.json()["entries"] == []


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"page": "0"}, "page must be a whole number from 1 to 2147483647, not '0'"),
        ({"page": "-1"}, "page must be a whole number from 1 to 2147483647, not '-1'"),
        ({"page": "abc"}, "page must be a whole number from 1 to 2147483647, not 'abc'"),
        ({"page": "1.5"}, "page must be a whole number from 1 to 2147483647, not '1.5'"),
        ({"page": " 1"}, "page must be a whole number from 1 to 2147483647, not ' 1'"),
        ({"page": "+1"}, "page must be a whole number from 1 to 2147483647, not '+1'"),
        ({"page": "1_0"}, "page must be a whole number from 1 to 2147483647, not '1_0'"),
        ({"page": "\u0661"}, "page must be a whole number from 1 to 2147483647, not '\u0661'"),
        (
            {"page": "2147483648"},
            "page must be a whole number from 1 to 2147483647, not '2147483648'",
        ),
        (
            {"page": str(10**30)},
            "page must be a whole number from 1 to 2147483647, not "
            "'1000000000000000000000000000000'",
        ),
        (
            {"page": "1 OR 1=1"},
            "page must be a whole number from 1 to 2147483647, not '1 OR 1=1'",
        ),
        ({"page_size": "0"}, "page_size must be a whole number from 1 to 100, not '0'"),
        ({"page_size": "-1"}, "page_size must be a whole number from 1 to 100, not '-1'"),
        ({"page_size": "101"}, "page_size must be a whole number from 1 to 100, not '101'"),
        ({"page_size": "abc"}, "page_size must be a whole number from 1 to 100, not 'abc'"),
        (
            {"page_size": str(10**30)},
            "page_size must be a whole number from 1 to 100, not '1000000000000000000000000000000'",
        ),
        (
            {"competition": "premier", "round": "0"},
            "round must be a whole number from 1 to 2147483647, not '0'",
        ),
        (
            {"competition": "premier", "round": "-1"},
            "round must be a whole number from 1 to 2147483647, not '-1'",
        ),
        (
            {"competition": "premier", "round": "1 OR 1=1"},
            "round must be a whole number from 1 to 2147483647, not '1 OR 1=1'",
        ),
        (
            {"competition": "premier", "round": str(10**30)},
            "round must be a whole number from 1 to 2147483647, not "
            "'1000000000000000000000000000000'",
        ),
        (
            {"round": "1"},
            "round needs a competition: give ?competition=<slug>&round=<n>",
        ),
        (
            {"competition": "'; DROP TABLE stats_match; --"},
            "competition must be a competition's slug (letters, digits, '-' and '_'), not "
            '"\'; DROP TABLE stats_match; --"',
        ),
        (
            {"competition": "premier' OR '1'='1"},
            "competition must be a competition's slug (letters, digits, '-' and '_'), not "
            "\"premier' OR '1'='1\"",
        ),
        (
            {"competition": "x" * 101},
            "competition must be a competition's slug (letters, digits, '-' and '_'), not "
            f"'{'x' * 40}…'",
        ),
        ({"page": ["1", "2"]}, "page is given 2 times; give it once"),
    ],
)
def test_malformed_or_out_of_range_parameters_are_refused_with_a_reason(
    client: Client, params: dict[str, Any], reason: str
) -> None:
    """Every bad parameter is a 400 that names it and says what was wrong; never a 500."""
    scored_league()
    response = client.get("/api/leaderboard", params)
    assert response.status_code == 400
    assert response.json() == {"error": reason}


def test_empty_parameters_mean_not_given(client: Client) -> None:
    """An empty value (what a form's "any" option sends) is the same as leaving it out."""
    scored_league()
    response = client.get("/api/leaderboard", {"competition": "", "round": "", "page": ""})
    assert response.status_code == 200
    assert response.json()["total_entries"] == 4


def test_the_leaderboard_api_only_answers_get(client: Client) -> None:
    """Writing to a read-only resource is 405."""
    assert client.post("/api/leaderboard").status_code == 405


# --- /api/users/<id>/stats ---------------------------------------------------------------------


def test_user_stats_list_totals_and_ranks_on_every_board(client: Client) -> None:
    """Overall, per competition (by name) and per round (by competition, round) standings."""
    league = scored_league()
    response = client.get(f"/api/users/{league.carol.pk}/stats")
    assert response.status_code == 200
    assert response.json() == {
        "user": {"id": league.carol.pk, "username": "carol"},
        "overall": {
            "rank": 4,
            "previous_rank": 3,
            "total_points": 3,
            "predictions_scored": 3,
            "exact_scores": 0,
            "correct_outcomes": 2,
        },
        "competitions": [
            {
                "competition_slug": "cup",
                "competition_name": "Cup",
                "rank": 2,
                "previous_rank": None,
                "total_points": 2,
                "predictions_scored": 1,
                "exact_scores": 0,
                "correct_outcomes": 1,
            },
            {
                "competition_slug": "premier",
                "competition_name": "Premier League",
                "rank": 3,
                "previous_rank": 3,
                "total_points": 1,
                "predictions_scored": 2,
                "exact_scores": 0,
                "correct_outcomes": 1,
            },
        ],
        "rounds": [
            {
                "competition_slug": "cup",
                "round": 1,
                "rank": 2,
                "total_points": 2,
                "exact_scores": 0,
                "predictions_scored": 1,
                "correct_outcomes": 1,
            },
            {
                "competition_slug": "premier",
                "round": 1,
                "rank": 3,
                "total_points": 1,
                "exact_scores": 0,
                "predictions_scored": 1,
                "correct_outcomes": 1,
            },
            {
                "competition_slug": "premier",
                "round": 2,
                "rank": 3,
                "total_points": 0,
                "exact_scores": 0,
                "predictions_scored": 1,
                "correct_outcomes": 0,
            },
        ],
        "refreshed_at": min(
            refreshed_at(view)
            for view in (
                "stats_overall_rank",
                "stats_competition_rank",
                "stats_round_rank",
            )
        ),
    }


def test_user_with_nothing_scored_has_zero_totals_and_no_rank(client: Client) -> None:
    """A known user who has not scored yet (here: an unscored prediction) is 200, not 404."""
    league = scored_league()
    newcomer = make_user("newcomer")
    make_prediction(newcomer, make_match(league.premier, round=3), 1, 0)
    response = client.get(f"/api/users/{newcomer.pk}/stats")
    assert response.status_code == 200
    body = response.json()
    assert body["user"] == {"id": newcomer.pk, "username": "newcomer"}
    assert body["overall"] == {
        "rank": None,
        "previous_rank": None,
        "total_points": 0,
        "predictions_scored": 0,
        "exact_scores": 0,
        "correct_outcomes": 0,
    }
    assert (body["competitions"], body["rounds"]) == ([], [])


@pytest.mark.parametrize("user_id", ["999999", "0", "abc", "1%20OR%201=1", str(10**30)])
def test_unknown_user_is_not_found(client: Client, user_id: str) -> None:
    """Any id that names no user, well-formed or not, is a JSON 404; never a 500."""
    scored_league()
    response = client.get(f"/api/users/{user_id}/stats")
    assert response.status_code == 404
    assert response.json()["error"].startswith("no league player has the id ")


@pytest.mark.parametrize("who", ["superuser", "staff", "inactive player", "no prediction"])
def test_accounts_that_are_not_league_players_are_not_found(client: Client, who: str) -> None:
    """Before: /api/users/<id>/stats answered the superuser's username (3,001 accounts walked
    in 7 s). Unknown, inactive and non-playing accounts get one and the same 404."""
    league = scored_league()
    if who == "inactive player":
        account = league.carol
        account.is_active = False
        account.save()
    else:
        account = make_user(who, is_staff=who != "no prediction", is_superuser=who == "superuser")
    response = client.get(f"/api/users/{account.pk}/stats")
    unknown = client.get("/api/users/999999/stats")
    assert response.status_code == unknown.status_code == 404
    assert response.json() == {"error": f"no league player has the id '{account.pk}'"}
    assert account.username.encode() not in response.content


def test_staff_who_play_are_league_players(client: Client) -> None:
    league = scored_league()
    league.carol.is_staff = True
    league.carol.save()
    assert client.get(f"/api/users/{league.carol.pk}/stats").status_code == 200

"""The league's doors: board pages as JSON and HTML, a user's stats (read from the replica
when one serves: see stats/replica.py)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import render

from stats import players, selectors
from stats.exceptions import InvalidParameter, PageOutOfRange, UnknownCompetition
from stats.http import RawJSON, allow_methods, json_answer
from stats.replica import public_read
from stats.views.conditional import (
    conditional_on_refresh,
    refresh_in_effect,
    refresh_read,
    signed_in_player,
)
from stats.views.params import database_id, error_response, parse_board_query, shown

# --- Leaderboard API and page ------------------------------------------------------------------


def _board_page(params: QueryDict) -> selectors.LeaderboardPage:
    query = parse_board_query(params)
    board = selectors.board_get(competition_slug=query.competition, round=query.round)
    page = selectors.leaderboard_page(
        board=board, page=query.page, page_size=query.page_size, refreshed_at=refresh_in_effect()
    )
    refresh_read(page.refreshed_at)
    return page


@allow_methods("GET")
@public_read
@conditional_on_refresh()
def leaderboard_api(request: HttpRequest) -> HttpResponse:
    """GET /api/leaderboard: one page of the overall, a competition's or a round's board."""
    try:
        page = _board_page(request.GET)
    except InvalidParameter as exc:
        return error_response(str(exc), 400)
    except (UnknownCompetition, PageOutOfRange) as exc:
        return error_response(str(exc), 404)
    competition = page.board.competition
    return json_answer(
        {
            "competition": competition.slug if competition else None,
            "round": page.board.round,
            "entries": RawJSON(page.entries_json),
            "page": page.page,
            "page_size": page.page_size,
            "total_entries": page.total_entries,
            "total_pages": page.total_pages,
            "refreshed_at": page.refreshed_at,
        }
    )


@allow_methods("GET")
@public_read
@conditional_on_refresh(private=True, variant=signed_in_player)
def leaderboard_html(request: HttpRequest) -> HttpResponse:
    """GET /leaderboard/: the board as HTML, with a competition and round picker."""
    context: dict[str, Any] = {
        "competitions": selectors.competition_list(),
        "page": None,
        "error": None,
        "rounds": [],
        "chosen_competition": request.GET.get("competition", ""),
        "chosen_round": request.GET.get("round", ""),
        "my_standing": None,
        "my_page": None,
    }
    status = 200
    try:
        page = _board_page(request.GET)
    except InvalidParameter as exc:
        context["error"], status = str(exc), 400
    except (UnknownCompetition, PageOutOfRange) as exc:
        context["error"], status = str(exc), 404
    else:
        context["page"] = page
        if page.board.competition is not None:
            context["rounds"] = players.round_labels(competition=page.board.competition)
            context["round_label"] = dict(context["rounds"]).get(
                page.board.round, f"Round {page.board.round}"
            )
        if request.user.is_authenticated:
            standing = selectors.user_board_standing(board=page.board, user_id=request.user.pk)
            context["my_standing"] = standing
            if standing is not None:
                position = players.board_position(board=page.board, standing=standing)
                context["my_page"] = (position - 1) // page.page_size + 1
    return render(request, "stats/leaderboard.html", context, status=status)


# --- A user's stats ----------------------------------------------------------------------------


@allow_methods("GET")
@public_read
@conditional_on_refresh()
def user_stats_api(request: HttpRequest, user_id: str) -> JsonResponse:
    """GET /api/users/<id>/stats: a league player's totals and ranks on every board they are on."""
    row_id = database_id(user_id)
    stats = (
        None
        if row_id is None
        else selectors.user_stats(user_id=row_id, refreshed_at=refresh_in_effect())
    )
    if stats is None:
        # One answer for unknown, inactive and non-playing accounts: which one is nobody's business.
        return error_response(f"no league player has the id {shown(user_id)}", 404)
    refresh_read(stats.refreshed_at)
    return JsonResponse(
        {
            "user": {"id": stats.user_id, "username": stats.username},
            "overall": stats.overall,
            "competitions": stats.competitions,
            "rounds": stats.rounds,
            "refreshed_at": stats.refreshed_at,
        }
    )

"""The players' pages (server-rendered, no build step): predict, my groups, a group's board."""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse

from stats import groups, players
from stats.exceptions import (
    GroupJoinThrottled,
    GroupNotFound,
    GroupRuleBroken,
    InvalidParameter,
    MatchNotFound,
    PageOutOfRange,
    PredictionClosed,
)
from stats.http import allow_methods
from stats.models import Competition
from stats.views.params import parse_board_query

MAX_SCORE = 99


def _player(request: HttpRequest) -> User:
    return cast(User, request.user)  # login_required let only a signed-in player through


def _score(value: str) -> int | None:
    value = value.strip()
    if not value.isascii() or not value.isdigit() or int(value) > MAX_SCORE:
        return None
    return int(value)


@login_required
@allow_methods("GET", "POST")
def predict(request: HttpRequest) -> HttpResponse:
    """GET /predict/: the matches still open, a score pair for each; POST saves the pairs
    given (each on its own: one closed match does not lose the others)."""
    saved: list[int] = []
    errors: dict[int, str] = {}
    if request.method == "POST":
        for name in request.POST:
            if not name.startswith("home-"):
                continue
            home = request.POST.get(name, "")
            match_id = int(name[5:]) if name[5:].isdigit() else None
            away = request.POST.get(f"away-{name[5:]}", "")
            if match_id is None or (home.strip() == "" and away.strip() == ""):
                continue
            home_score, away_score = _score(home), _score(away)
            if home_score is None or away_score is None:
                errors[match_id] = f"scores are whole numbers from 0 to {MAX_SCORE}"
                continue
            try:
                players.prediction_put(
                    user=_player(request),
                    match_id=match_id,
                    home_score=home_score,
                    away_score=away_score,
                )
            except (PredictionClosed, MatchNotFound) as exc:
                errors[match_id] = str(exc)
            else:
                saved.append(match_id)
    rows = players.upcoming_matches(user_id=_player(request).pk)
    for row in rows:
        row["error"] = errors.get(row["match"].pk)
    return render(
        request,
        "stats/predict.html",
        {"rows": rows, "saved": len(saved), "errors": errors},
        status=400 if errors and not saved else 200,
    )


@login_required
@allow_methods("GET", "POST")
def my_groups(request: HttpRequest) -> HttpResponse:
    """GET /groups/: the player's groups; POST creates one (name) or joins one (join_code)."""
    error = None
    if request.method == "POST":
        name = request.POST.get("name", "").strip()
        code = request.POST.get("join_code", "").strip()
        try:
            if name:
                group = groups.group_create(owner=_player(request), name=name[:100])
            elif code:
                group = groups.group_join(user=_player(request), join_code=code[:100])
            else:
                raise GroupRuleBroken("give a name to create a group, or a code to join one")
        except (GroupNotFound, GroupRuleBroken, GroupJoinThrottled) as exc:
            error = str(exc)
        else:
            return HttpResponseRedirect(reverse("group-board", args=[group.slug]))
    return render(
        request,
        "stats/groups.html",
        {"groups": groups.player_group_list(user_id=_player(request).pk), "error": error},
        status=200 if error is None else 400,
    )


@login_required
@allow_methods("GET")
def group_board(request: HttpRequest, slug: str) -> HttpResponse:
    """GET /groups/<slug>/: a group's board with movement (members only: 404 to others)."""
    try:
        group = groups.group_for_member(user_id=_player(request).pk, slug=slug)
    except GroupNotFound as exc:
        raise Http404(str(exc)) from exc
    context: dict[str, Any] = {
        "group": group,
        "is_owner": group.owner_id == _player(request).pk,
        "members": groups.group_member_count(group=group),
        "competitions": Competition.objects.order_by("name", "slug"),
        "chosen_competition": request.GET.get("competition", ""),
        "page": None,
        "error": None,
    }
    status = 200
    try:
        query = parse_board_query(request.GET)
        if query.round is not None:
            raise InvalidParameter("a group's boards are overall or per competition")
        competition = None
        if query.competition is not None:
            competition = Competition.objects.filter(slug=query.competition).first()
            if competition is None:
                raise GroupNotFound(f"no competition has the slug {query.competition!r}")
        context["page"] = groups.group_board_page(
            group=group, competition=competition, page=query.page, page_size=query.page_size
        )
    except InvalidParameter as exc:
        context["error"], status = str(exc), 400
    except (GroupNotFound, PageOutOfRange) as exc:
        context["error"], status = str(exc), 404
    return render(request, "stats/group.html", context, status=status)

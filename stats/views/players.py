"""The players' doors: predict, read your own predictions and standing, a match's summary."""

from __future__ import annotations

from typing import Any

from django.db.models import F
from django.http import Http404, HttpRequest
from ninja import Router, Status

from stats import groups, players, selectors
from stats.exceptions import MatchNotFound
from stats.models import Match, MatchSummary, ViewRefresh
from stats.relations import MATCH_SUMMARIES
from stats.views.schemas import (
    ErrorOut,
    MatchSummaryOut,
    MeOut,
    MyPredictionOut,
    PredictionIn,
    PredictionOut,
)
from stats.views.signin import PLAYER, player

router = Router(tags=["players"])

ZERO_TOTALS = dict.fromkeys(
    ("total_points", "predictions_scored", "exact_scores", "correct_outcomes"), 0
)


def _prediction_out(prediction: Any) -> dict[str, Any]:
    return {
        "match_id": prediction.match_id,
        "home_score": prediction.home_score,
        "away_score": prediction.away_score,
        "points": prediction.points,
        "updated_at": prediction.updated_at,
    }


@router.put(
    "/matches/{match_id}/prediction",
    auth=PLAYER,
    response={200: PredictionOut, 201: PredictionOut, 404: ErrorOut, 409: ErrorOut},
    summary="Make or change your prediction for a match",
)
def prediction_put(request: HttpRequest, match_id: int, body: PredictionIn) -> Status[Any]:
    """201 when the prediction is new, 200 when it is changed (or already was this); 409 with the
    reason once the match has kicked off or is no longer scheduled."""
    try:
        prediction, created = players.prediction_put(
            user=player(request),
            match_id=match_id,
            home_score=body.home_score,
            away_score=body.away_score,
        )
    except MatchNotFound as exc:
        raise Http404(str(exc)) from exc
    return Status(201 if created else 200, _prediction_out(prediction))


@router.get(
    "/me/predictions",
    auth=PLAYER,
    response=list[MyPredictionOut],
    summary="Your predictions, latest kickoff first, with their points",
)
def my_predictions(request: HttpRequest) -> list[dict[str, Any]]:
    return list(players.player_predictions(user_id=player(request).pk))


@router.get(
    "/matches/{match_id}/summary",
    auth=None,
    response={200: MatchSummaryOut, 404: ErrorOut},
    summary="How a match was predicted",
)
def match_summary(request: HttpRequest, match_id: int) -> dict[str, Any]:
    """Counted before kickoff too; a match nobody predicted has zeros."""
    match = (
        Match.objects.filter(pk=match_id)
        .values(
            "round",
            "kickoff_at",
            "status",
            "home_score",
            "away_score",
            competition_slug=F("competition__slug"),
            home=F("home_team__name"),
            away=F("away_team__name"),
        )
        .first()
    )
    if match is None:
        raise Http404(f"no match has the id {match_id}")
    counted = MatchSummary.objects.filter(match_id=match_id).values(*MatchSummary.SHOWN).first()
    summary: dict[str, Any] = (
        dict(counted)
        if counted
        else {
            "predictions_count": 0,
            "home_win_predictions": 0,
            "draw_predictions": 0,
            "away_win_predictions": 0,
            "exact_scores": 0,
            "average_points": None,
        }
    )
    refresh = ViewRefresh.objects.filter(view_name=MATCH_SUMMARIES.name).first()
    average = summary.pop("average_points")
    return {
        "match_id": match_id,
        "competition": match["competition_slug"],
        "round": match["round"],
        "home_team": match["home"],
        "away_team": match["away"],
        "kickoff_at": match["kickoff_at"],
        "status": match["status"],
        "home_score": match["home_score"],
        "away_score": match["away_score"],
        **summary,
        "average_points": None if average is None else float(average),
        "refreshed_at": refresh.refreshed_at if refresh else None,
    }


@router.get("/me", auth=PLAYER, response=MeOut, summary="Your totals, ranks and groups")
def me(request: HttpRequest) -> dict[str, Any]:
    """Like GET /api/users/<id>/stats for yourself, plus your groups; a player with nothing
    scored yet has zeros and no ranks."""
    user = player(request)
    stats = selectors.user_stats(user_id=user.pk)
    return {
        "user": {"id": user.pk, "username": user.get_username()},
        "overall": stats.overall if stats else {"rank": None, "previous_rank": None, **ZERO_TOTALS},
        "competitions": stats.competitions if stats else [],
        "groups": groups.player_group_list(user_id=user.pk),
        "refreshed_at": stats.refreshed_at if stats else None,
    }

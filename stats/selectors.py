"""The league's reads: board pages, the rounds of a competition, a user's standings.

Boards are read only from the statistics relations, ordered the way their indexes are, so a page
is an index range scan however large the league grows. The job queue is never read here (see
stats/monitoring.py for the operator's reads).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import F, Max, Q, QuerySet

from stats.exceptions import PageOutOfRange, UnknownCompetition
from stats.models import (
    Competition,
    CompetitionStanding,
    LeaderboardEntry,
    Match,
    Prediction,
    RoundStanding,
    ViewRefresh,
)
from stats.relations import BOARDS, COMPETITION_BOARDS, OVERALL_BOARD, ROUND_BOARDS, StatsRelation

# --- Leaderboards ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Board:
    """Which board: the overall one, a competition's, or one round of a competition."""

    relation: StatsRelation
    competition: Competition | None = None
    round: int | None = None

    @property
    def view_name(self) -> str:
        return self.relation.name


# Every board has the same columns, whatever its scope.
_STANDING_COLUMNS = ("total_points", "predictions_scored", "exact_scores", "correct_outcomes")


def board_get(*, competition_slug: str | None = None, round: int | None = None) -> Board:
    """The board for a competition slug and round (both optional; a round needs a competition).

    Raises UnknownCompetition when no competition has the slug.
    """
    if competition_slug is None:
        if round is not None:
            raise ValueError("a round board needs a competition")
        return Board(OVERALL_BOARD)
    competition = Competition.objects.filter(slug=competition_slug).first()
    if competition is None:
        raise UnknownCompetition(f"no competition has the slug {competition_slug!r}")
    if round is None:
        return Board(COMPETITION_BOARDS, competition)
    return Board(ROUND_BOARDS, competition, round)


def _board_rows(board: Board) -> QuerySet[Any, Any]:
    rows: QuerySet[Any, Any] = board.relation.model._default_manager.all()
    if board.competition is not None:
        rows = rows.filter(competition_id=board.competition.pk)
    if board.round is not None:
        rows = rows.filter(round=board.round)
    return rows


def board_standings(*, board: Board) -> QuerySet[Any, dict[str, Any]]:
    """Every row of a board as plain dicts, best first, with the username joined in.

    Rows are ordered by their stored position (rank order, ties by user id), which each view
    indexes within its competition and round: filter a position range to read one page.
    """
    return (
        _board_rows(board)
        .order_by("position")
        .values("rank", "user_id", *_STANDING_COLUMNS, username=F("user__username"))
    )


@dataclass(frozen=True)
class LeaderboardPage:
    board: Board
    entries: list[dict[str, Any]]
    page: int
    page_size: int
    total_entries: int
    refreshed_at: datetime | None

    @property
    def total_pages(self) -> int:
        """Pages in the board; an empty board still has its (empty) first page."""
        return max(1, math.ceil(self.total_entries / self.page_size))


def leaderboard_page(*, board: Board, page: int, page_size: int) -> LeaderboardPage:
    """One page of a board: its size, then one query for the page's rows with usernames.

    Both are index lookups at any depth: the size is the board's last position, and the page a
    range of positions (an OFFSET would walk every row before the page).
    Raises PageOutOfRange past the last page; page 1 of an empty board is an empty page.
    """
    total_entries = _board_rows(board).aggregate(last=Max("position"))["last"] or 0
    if page > 1 and (page - 1) * page_size >= total_entries:
        raise PageOutOfRange(
            f"page {page} is past the end: the board has "
            f"{max(1, math.ceil(total_entries / page_size))} page(s) of {page_size}"
        )
    offset = (page - 1) * page_size
    entries = list(
        board_standings(board=board).filter(position__gt=offset, position__lte=offset + page_size)
    )
    refresh = ViewRefresh.objects.filter(view_name=board.view_name).first()
    return LeaderboardPage(
        board=board,
        entries=entries,
        page=page,
        page_size=page_size,
        total_entries=total_entries,
        refreshed_at=refresh.refreshed_at if refresh else None,
    )


def user_board_standing(*, board: Board, user_id: int) -> dict[str, Any] | None:
    """A user's row on a board (rank and totals), or None when they are not on it."""
    return board_standings(board=board).filter(user_id=user_id).first()


def competition_list() -> QuerySet[Competition]:
    return Competition.objects.order_by("name", "slug")


def competition_rounds(*, competition: Competition) -> list[int]:
    """The rounds (matchdays) a competition has matches in, in order."""
    return list(
        Match.objects.filter(competition=competition)
        .order_by("round")
        .values_list("round", flat=True)
        .distinct()
    )


# --- A user's stats ----------------------------------------------------------------------------


@dataclass(frozen=True)
class UserStats:
    user_id: int
    username: str
    overall: dict[str, Any]
    competitions: list[dict[str, Any]]
    rounds: list[dict[str, Any]]
    refreshed_at: datetime | None


def user_stats(*, user_id: int) -> UserStats | None:
    """A user's totals and rank overall, in each competition and in each round they appear in.

    None unless the user is a league player: active, with at least one prediction (accounts that
    only run the site, staff without predictions, stay private). A player with nothing scored
    gets zero totals, no rank, no boards.
    The competition and round boards are indexed by (competition, [round,] user), not by user, so
    the (competition, round) pairs are first found from the user's own predictions (their unique
    (user, match) index), then each board row is an index lookup.
    """
    # Two queries, not one with EXISTS: accounts are read where auth lives (the primary), the
    # league's tables where public reads go (the replica, when one serves them).
    user = (
        get_user_model()
        ._default_manager.filter(pk=user_id, is_active=True)
        .values("pk", "username")
        .first()
    )
    if user is None or not Prediction.objects.filter(user_id=user_id).exists():
        return None
    overall = (
        LeaderboardEntry.objects.filter(user_id=user_id).values("rank", *_STANDING_COLUMNS).first()
    ) or {"rank": None, **dict.fromkeys(_STANDING_COLUMNS, 0)}

    played: dict[int, set[int]] = {}
    for competition_id, round in (
        Prediction.objects.filter(user_id=user_id, points__isnull=False)
        .values_list("match__competition_id", "match__round")
        .distinct()
    ):
        played.setdefault(competition_id, set()).add(round)

    competitions: list[dict[str, Any]] = []
    rounds: list[dict[str, Any]] = []
    if played:
        competitions = list(
            CompetitionStanding.objects.filter(user_id=user_id, competition_id__in=played)
            .order_by("competition__name", "competition_id")
            .values(
                "rank",
                *_STANDING_COLUMNS,
                competition_slug=F("competition__slug"),
                competition_name=F("competition__name"),
            )
        )
        in_rounds = Q()
        for competition_id, played_rounds in played.items():
            in_rounds |= Q(competition_id=competition_id, round__in=sorted(played_rounds))
        rounds = list(
            RoundStanding.objects.filter(in_rounds, user_id=user_id)
            .order_by("competition__name", "competition_id", "round")
            .values("round", "rank", *_STANDING_COLUMNS, competition_slug=F("competition__slug"))
        )
    return UserStats(
        user_id=user["pk"],
        username=user["username"],
        overall=overall,
        competitions=competitions,
        rounds=rounds,
        refreshed_at=ViewRefresh.objects.refreshed_through(board.name for board in BOARDS),
    )

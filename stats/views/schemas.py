"""The API's bodies, as pydantic schemas: what each endpoint takes and answers. The OpenAPI
document is generated from them, the hand-written endpoints' answers included."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from ninja import Schema
from pydantic import ConfigDict, Field, StringConstraints

# PostgreSQL's smallint holds a score; nobody predicts 100 goals.
Score = Field(ge=0, le=99)


class Strict(Schema):
    """A body that refuses unknown fields (a typo must not be silently ignored) and values of
    another JSON type: `true` or `"2"` is no score, nor a user id."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ErrorOut(Schema):
    error: str


# --- Boards ------------------------------------------------------------------------------------


class Totals(Schema):
    total_points: int
    predictions_scored: int
    exact_scores: int
    correct_outcomes: int


_PREVIOUS_RANK = (
    "the rank before the latest round that counted on this board (null when the player had "
    "nothing scored before it; always null on a round's board)"
)


class BoardEntryOut(Totals):
    rank: int
    user_id: int
    username: str
    previous_rank: int | None = Field(description=_PREVIOUS_RANK)


class LeaderboardPageOut(Schema):
    competition: str | None
    round: int | None
    entries: list[BoardEntryOut]
    page: int
    page_size: int
    total_entries: int
    total_pages: int
    refreshed_at: datetime | None


class UserRef(Schema):
    id: int
    username: str


class OverallStandingOut(Totals):
    rank: int | None
    previous_rank: int | None = Field(description=_PREVIOUS_RANK)


class CompetitionStandingOut(Totals):
    competition_slug: str
    competition_name: str
    rank: int
    previous_rank: int | None = Field(description=_PREVIOUS_RANK)


class RoundStandingOut(Totals):
    competition_slug: str
    round: int
    rank: int


class UserStatsOut(Schema):
    user: UserRef
    overall: OverallStandingOut
    competitions: list[CompetitionStandingOut]
    rounds: list[RoundStandingOut]
    refreshed_at: datetime | None


class CronOut(Schema):
    status: Literal["queued", "already_queued"]
    job_id: int
    timestamp: datetime


# --- Sign-in -----------------------------------------------------------------------------------


class TokenIn(Strict):
    username: str = Field(max_length=150)
    password: str = Field(max_length=4096)
    name: str = Field(default="", max_length=100, description="Which app or device asks.")


class TokenOut(Schema):
    token: str = Field(description="The bearer token; shown this once, only its hash is kept.")
    name: str
    created_at: datetime


class RevokedOut(Schema):
    revoked: bool


# --- Predictions and a player's own standing ----------------------------------------------------


class PredictionIn(Strict):
    home_score: int = Score
    away_score: int = Score


class PredictionOut(Schema):
    match_id: int
    home_score: int
    away_score: int
    points: int | None
    updated_at: datetime


class MyPredictionOut(PredictionOut):
    competition: str
    round: int
    home_team: str
    away_team: str
    kickoff_at: datetime
    status: str
    match_home_score: int | None
    match_away_score: int | None


class MatchSummaryOut(Schema):
    match_id: int
    competition: str
    round: int
    home_team: str
    away_team: str
    kickoff_at: datetime
    status: str
    home_score: int | None
    away_score: int | None
    predictions_count: int
    home_win_predictions: int
    draw_predictions: int
    away_win_predictions: int
    exact_scores: int
    average_points: float | None
    refreshed_at: datetime | None


class MyGroupOut(Schema):
    slug: str
    name: str
    members: int
    is_owner: bool


class MeOut(Schema):
    user: UserRef
    overall: OverallStandingOut
    competitions: list[CompetitionStandingOut]
    groups: list[MyGroupOut]
    refreshed_at: datetime | None


# --- Groups ------------------------------------------------------------------------------------


class GroupIn(Strict):
    # Without its surrounding spaces, as the groups page takes it; spaces alone are no name.
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class GroupOut(Schema):
    slug: str
    name: str
    owner_id: int
    join_code: str
    members: int


class JoinIn(Strict):
    join_code: str = Field(min_length=1, max_length=100)


class HandOverIn(Strict):
    user_id: int


class LeftOut(Schema):
    left: bool
    group_deleted: bool


class GroupBoardQuery(Strict):
    model_config = ConfigDict(extra="forbid", strict=False)  # a query string is all text

    competition: str | None = Field(default=None, pattern=r"^[-a-zA-Z0-9_]{1,100}$")
    page: int = Field(default=1, ge=1, le=2**31 - 1)
    page_size: int = Field(default=25, ge=1, le=100)


class GroupBoardEntryOut(BoardEntryOut):
    """A group board's entry: the league's, ranked among the members."""


class GroupBoardOut(Schema):
    group: str
    competition: str | None
    entries: list[GroupBoardEntryOut]
    page: int
    page_size: int
    total_entries: int
    total_pages: int
    refreshed_at: datetime | None

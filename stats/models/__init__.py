"""The app's models, by concern: the league, the players' side (tokens, groups), the
statistics, the jobs' errors."""

from __future__ import annotations

from stats.models.jobs import JobError
from stats.models.league import (
    KICKOFF_RANGE,
    PREDICTION_KICKOFF_TRIGGER,
    Competition,
    Match,
    MatchQuerySet,
    Prediction,
    ResultChange,
    RoundName,
    Team,
)
from stats.models.players import ApiToken, GroupJoinFailure, GroupMembership, PlayerGroup
from stats.models.statistics import (
    CompetitionTotal,
    MatchSummary,
    RoundTotal,
    StatsReadModel,
    UserTotal,
    ViewRefresh,
    ViewRefreshQuerySet,
)

__all__ = [
    "KICKOFF_RANGE",
    "PREDICTION_KICKOFF_TRIGGER",
    "ApiToken",
    "Competition",
    "CompetitionTotal",
    "GroupJoinFailure",
    "GroupMembership",
    "JobError",
    "Match",
    "MatchQuerySet",
    "MatchSummary",
    "PlayerGroup",
    "Prediction",
    "ResultChange",
    "RoundName",
    "RoundTotal",
    "StatsReadModel",
    "Team",
    "UserTotal",
    "ViewRefresh",
    "ViewRefreshQuerySet",
]

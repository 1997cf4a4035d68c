"""The app's models, by concern: the league, the players' side (tokens, groups), the
statistics, the jobs' errors."""

from __future__ import annotations

from stats.models.jobs import JobError
from stats.models.league import (
    PREDICTION_KICKOFF_TRIGGER,
    Competition,
    Match,
    MatchQuerySet,
    Prediction,
    ResultChange,
    Team,
)
from stats.models.players import ApiToken, GroupJoinFailure, GroupMembership, PlayerGroup
from stats.models.statistics import (
    CompetitionStanding,
    CompetitionTotal,
    LeaderboardEntry,
    MatchSummary,
    RoundStanding,
    StatsReadModel,
    ViewRefresh,
    ViewRefreshQuerySet,
)

__all__ = [
    "PREDICTION_KICKOFF_TRIGGER",
    "ApiToken",
    "Competition",
    "CompetitionStanding",
    "CompetitionTotal",
    "GroupJoinFailure",
    "GroupMembership",
    "JobError",
    "LeaderboardEntry",
    "Match",
    "MatchQuerySet",
    "MatchSummary",
    "PlayerGroup",
    "Prediction",
    "ResultChange",
    "RoundStanding",
    "StatsReadModel",
    "Team",
    "ViewRefresh",
    "ViewRefreshQuerySet",
]

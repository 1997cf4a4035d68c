"""The app's models, by concern: the league, the statistics, the jobs' errors."""

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
    Team,
)
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
    "Competition",
    "CompetitionTotal",
    "JobError",
    "Match",
    "MatchQuerySet",
    "MatchSummary",
    "Prediction",
    "ResultChange",
    "RoundTotal",
    "StatsReadModel",
    "Team",
    "UserTotal",
    "ViewRefresh",
    "ViewRefreshQuerySet",
]

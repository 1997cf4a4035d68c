"""Every error the stats app raises on purpose, under one base, each named for its condition."""

from __future__ import annotations

from django.core.exceptions import ValidationError


class StatsError(Exception):
    """Base of the errors the stats app raises on purpose."""


class MatchNotFound(StatsError):
    """No match has this id: no retry can fix it."""


class ViewNotRefreshable(StatsError):
    """A materialized view is missing, or lacks the unique index a concurrent refresh needs."""


class StatisticsReadOnly(StatsError, TypeError):
    """An ORM write to a statistics relation: the refresh keeps them, in SQL; refresh instead."""


class UnknownCompetition(StatsError, LookupError):
    """No competition has this slug."""


class PageOutOfRange(StatsError, LookupError):
    """The board has fewer pages than the one asked for."""


class InvalidParameter(StatsError, ValueError):
    """A query parameter is malformed or out of range; the message says which and why."""


class PredictionClosed(StatsError, ValidationError):
    """The database refused a prediction: its match has kicked off or is no longer scheduled.

    A ValidationError, so forms and callers that validate show its message, which names the
    match and why.
    """

    # The SQLSTATE the prediction trigger raises (stats/sql/migrations/0008_*).
    SQLSTATE = "23M01"

    def __str__(self) -> str:
        return "; ".join(self.messages)  # the reason itself, not ValidationError's list repr


class GroupNotFound(StatsError, LookupError):
    """No group has this slug or join code, or the player is not one of its members."""


class GroupRuleBroken(StatsError, ValueError):
    """A group rule refuses the change (not the owner, not a member…); the message says which."""


class GroupFull(GroupRuleBroken):
    """The group has as many members as a group may hold."""


class GroupJoinThrottled(StatsError):
    """The player gave too many unknown join codes lately: joining waits."""


class FeedError(StatsError, ValueError):
    """A results feed file cannot be read: the message names the file, the match and why."""

"""Every error the stats app raises on purpose, under one base, each named for its condition."""

from __future__ import annotations


class StatsError(Exception):
    """Base of the errors the stats app raises on purpose."""


class MatchNotFound(StatsError):
    """No match has this id: no retry can fix it."""


class MatchNotSettled(StatsError):
    """The match is still scheduled or live; its result may not be recorded yet (transient)."""


class ViewNotRefreshable(StatsError):
    """A materialized view is missing, or lacks the unique index a concurrent refresh needs."""


class UnknownCompetition(StatsError, LookupError):
    """No competition has this slug."""


class PageOutOfRange(StatsError, LookupError):
    """The board has fewer pages than the one asked for."""


class InvalidParameter(StatsError, ValueError):
    """A query parameter is malformed or out of range; the message says which and why."""

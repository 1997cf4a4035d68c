from __future__ import annotations


class StatsError(Exception):
    """Base of the errors the stats services raise on purpose."""


class MatchNotFound(StatsError):
    """No match has this id: no retry can fix it."""


class MatchNotSettled(StatsError):
    """The match is still scheduled or live; its result may not be recorded yet (transient)."""


class ViewNotRefreshable(StatsError):
    """A materialized view is missing, or lacks the unique index a concurrent refresh needs."""

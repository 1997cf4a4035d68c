"""The statistics' records: the refresh log and read-only models of the statistics relations."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar

from django.conf import settings
from django.db import models

from stats.exceptions import StatisticsReadOnly
from stats.models.league import Competition, Match


class ViewRefreshQuerySet(models.QuerySet["ViewRefresh"]):
    def refreshed_through(self, view_names: Iterable[str]) -> datetime | None:
        """How far these views are known to be fresh: the start of the least recent of their
        last refreshes (writes committed after it may be missing), None while any of them was
        never refreshed. The one answer to "refreshed through" for pages, health and the sweep."""
        names = set(view_names)
        refreshes = self.filter(view_name__in=names).aggregate(
            views=models.Count("pk"), oldest=models.Min("refreshed_at")
        )
        return refreshes["oldest"] if refreshes["views"] == len(names) else None


class ViewRefresh(models.Model):
    """When each statistics relation was last brought up to date, and how long its step took."""

    view_name = models.CharField(max_length=63, primary_key=True)
    refreshed_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()

    objects = ViewRefreshQuerySet.as_manager()

    class Meta:
        ordering = ("view_name",)
        verbose_name_plural = "view refreshes"

    def __str__(self) -> str:
        return f"{self.view_name} at {self.refreshed_at:%Y-%m-%d %H:%M:%S}"


# --- Read-only models over the statistics relations (see stats/relations.py) -----------------


def _read_only(model: type[models.Model]) -> StatisticsReadOnly:
    return StatisticsReadOnly(
        f"{model.__name__} rows are kept by the stats refresh, in SQL; refresh it instead"
    )


_Row = TypeVar("_Row", bound=models.Model)


class StatsReadQuerySet(models.QuerySet[_Row]):
    """Reads only: every write through a queryset raises StatisticsReadOnly."""

    def update(self, **kwargs: Any) -> int:
        raise _read_only(self.model)

    def delete(self) -> tuple[int, dict[str, int]]:
        raise _read_only(self.model)

    def bulk_create(self, *args: Any, **kwargs: Any) -> list[_Row]:
        raise _read_only(self.model)

    def bulk_update(self, *args: Any, **kwargs: Any) -> int:
        raise _read_only(self.model)

    def create(self, **kwargs: Any) -> _Row:
        raise _read_only(self.model)


class StatsReadModel(models.Model):
    """Rows of a statistics relation: read through the ORM, written only by the refresh."""

    objects = StatsReadQuerySet.as_manager()

    class Meta:
        abstract = True
        managed = False

    def save(self, *args: Any, **kwargs: Any) -> None:
        raise _read_only(type(self))

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise _read_only(type(self))


def _reference(to: type[models.Model] | str) -> Any:
    """A key of a statistics row to a league row: no constraint (the refresh keeps them right,
    and rows may outlive a deleted user until it runs), no reverse accessor."""
    return models.ForeignKey(to, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")


class UserTotals(StatsReadModel):
    """A user's totals on a board: overall, in a competition, in a round. Their rank is not
    stored: it is 1 + the players above them, looked up in the board's rank view."""

    total_points = models.IntegerField()
    predictions_scored = models.IntegerField()
    exact_scores = models.IntegerField()
    correct_outcomes = models.IntegerField()

    class Meta(StatsReadModel.Meta):
        abstract = True


class UserTotal(UserTotals):
    """A user's totals on the overall board."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        primary_key=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )

    class Meta(StatsReadModel.Meta):
        db_table = "stats_user_total"
        ordering = ("-total_points", "-exact_scores", "user_id")

    def __str__(self) -> str:
        return f"user {self.user_id}: {self.total_points} points"


class CompetitionTotal(UserTotals):
    """A user's totals in a competition."""

    # `id` is "<competition_id>:<user_id>": Django's admin needs a single-column key.
    id = models.CharField(max_length=41, primary_key=True)
    competition = _reference(Competition)
    user = _reference(settings.AUTH_USER_MODEL)

    class Meta(StatsReadModel.Meta):
        db_table = "stats_competition_total"
        ordering = ("competition_id", "-total_points", "-exact_scores", "user_id")

    def __str__(self) -> str:
        return f"user {self.user_id} in competition {self.competition_id}"


class RoundTotal(UserTotals):
    """A user's totals in one round (matchday) of a competition."""

    # `id` is "<competition_id>:<round>:<user_id>", for the same reason as above.
    id = models.CharField(max_length=48, primary_key=True)
    competition = _reference(Competition)
    round = models.IntegerField()
    user = _reference(settings.AUTH_USER_MODEL)

    class Meta(StatsReadModel.Meta):
        db_table = "stats_round_total"
        ordering = ("competition_id", "round", "-total_points", "-exact_scores", "user_id")

    def __str__(self) -> str:
        return f"user {self.user_id} in round {self.round} of competition {self.competition_id}"


class MatchSummary(StatsReadModel):
    match = models.OneToOneField(
        Match, primary_key=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    predictions_count = models.IntegerField()
    home_win_predictions = models.IntegerField()
    draw_predictions = models.IntegerField()
    away_win_predictions = models.IntegerField()
    exact_scores = models.IntegerField()
    average_points = models.DecimalField(max_digits=6, decimal_places=3, null=True)
    # What average_points is kept from, by difference: the points of the counted predictions.
    points_total = models.IntegerField()
    points_counted = models.IntegerField()

    # What a match summary shows (the API, the admin); the two kept columns stay inside.
    SHOWN = (
        "predictions_count",
        "home_win_predictions",
        "draw_predictions",
        "away_win_predictions",
        "exact_scores",
        "average_points",
    )

    class Meta(StatsReadModel.Meta):
        db_table = "stats_match_summary"
        verbose_name_plural = "match summaries"

    def __str__(self) -> str:
        return f"summary of match {self.match_id}"

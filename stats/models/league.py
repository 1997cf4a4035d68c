"""The league: competitions, teams, matches and predictions, with their rules as constraints."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, models, router, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from stats.exceptions import PredictionClosed

# Kickoffs a Match can store: within what Python's datetimes can read back in any time zone.
KICKOFF_RANGE = (
    datetime(2, 1, 1, tzinfo=UTC),
    datetime(9999, 1, 1, tzinfo=UTC),
)


# The rules on a match's status and score together, worded once (Match.result_problem): the
# database's constraints show the first two as they are, the feed quotes each in its errors.
SCORES_TOGETHER = "give both scores, or neither"
COMPLETED_NEEDS_SCORE = "a completed match needs its final score, home and away"


def _sentence(rule: str) -> str:
    return rule[0].upper() + rule[1:] + "."


class Competition(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class Team(models.Model):
    name = models.CharField(max_length=200, unique=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class RoundName(models.Model):
    """A round as the results feed names it ("Round of 16", "League, Matchday 3"): pages show
    it instead of "Round <n>". Kept by sync_matches; a round without one is "Round <n>"."""

    competition = models.ForeignKey(
        Competition, on_delete=models.CASCADE, related_name="round_names"
    )
    round = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=100)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["competition", "round"], name="stats_round_name_once")
        ]

    def __str__(self) -> str:
        return f"{self.competition}: {self.name}"


class MatchQuerySet(models.QuerySet["Match"]):
    def settled(self) -> MatchQuerySet:
        return self.filter(status__in=Match.SETTLED_STATUSES)

    def with_stale_points(self) -> MatchQuerySet:
        """Matches whose points were never calculated, or were calculated before the result."""
        return self.filter(
            Q(points_calculated_at__isnull=True) | Q(points_calculated_at__lt=F("completed_at"))
        )

    def needing_scoring(self) -> MatchQuerySet:
        """Settled matches whose points are missing or stale, or completed ones with an unscored
        prediction (a restore, a bulk load with triggers off): what the sweep re-queues."""
        unscored = Prediction.objects.filter(match=OuterRef("pk"), points__isnull=True)
        return (
            self.settled()
            .alias(has_unscored=Exists(unscored))
            .filter(
                Q(points_calculated_at__isnull=True)
                | Q(points_calculated_at__lt=F("completed_at"))
                | Q(status=Match.Status.COMPLETED, has_unscored=True)
            )
        )


class ResultChange(enum.Enum):
    """What a save did to a match's result, as far as its predictions' points are concerned."""

    FRESH = "fresh"  # settled for the first time: points to give
    CORRECTION = "correction"  # settled before, settled differently now: points to re-score
    WITHDRAWN = "withdrawn"  # settled before, scheduled or live again: points to clear


class Match(models.Model):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled"
        LIVE = "live"
        COMPLETED = "completed"
        POSTPONED = "postponed"
        CANCELLED = "cancelled"

    # Statuses after which a match's predictions get their final points (NULL when void).
    SETTLED_STATUSES: ClassVar[frozenset[str]] = frozenset(
        {Status.COMPLETED, Status.POSTPONED, Status.CANCELLED}
    )
    VOID_STATUSES: ClassVar[frozenset[str]] = frozenset({Status.POSTPONED, Status.CANCELLED})
    # Statuses whose match may carry a score (the final one, or the score so far).
    SCORED_STATUSES: ClassVar[frozenset[str]] = frozenset({Status.COMPLETED, Status.LIVE})

    competition = models.ForeignKey(Competition, on_delete=models.PROTECT, related_name="matches")
    round = models.PositiveSmallIntegerField(help_text="The matchday, from 1.")
    home_team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="home_matches")
    away_team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="away_matches")
    kickoff_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SCHEDULED)
    home_score = models.PositiveSmallIntegerField(null=True, blank=True)
    away_score = models.PositiveSmallIntegerField(null=True, blank=True)
    completed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the match was settled or its result last changed; points older than "
        "this are stale.",
    )
    points_calculated_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = MatchQuerySet.as_manager()

    # The result as last loaded or saved, to notice a corrected score on save(). save() moves it
    # on only after the post_save receivers ran, so they compare with the result before the save.
    _loaded_result: tuple[str, int | None, int | None] | None = None

    class Meta:
        verbose_name_plural = "matches"
        ordering = ("kickoff_at", "id")
        indexes = [
            models.Index(fields=["competition", "round"], name="stats_match_comp_round_idx"),
            # The safety-net sweep looks for settled matches whose points are missing or stale.
            models.Index(
                fields=["completed_at"],
                name="stats_match_settled_idx",
                condition=Q(status__in=["completed", "postponed", "cancelled"]),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(home_team=F("away_team")),
                name="stats_match_teams_differ",
                violation_error_message="A team cannot play itself: choose two different teams.",
            ),
            models.CheckConstraint(
                condition=Q(round__gte=1),
                name="stats_match_round_positive",
                violation_error_message="The round is the matchday, from 1.",
            ),
            models.CheckConstraint(
                condition=Q(home_score__isnull=True, away_score__isnull=True)
                | Q(home_score__isnull=False, away_score__isnull=False),
                name="stats_match_scores_set_together",
                violation_error_message=_sentence(SCORES_TOGETHER),
            ),
            models.CheckConstraint(
                condition=~Q(status="completed")
                | Q(home_score__isnull=False, away_score__isnull=False),
                name="stats_match_completed_has_score",
                violation_error_message=_sentence(COMPLETED_NEEDS_SCORE),
            ),
            # Every kickoff stored can be read back: Python's datetimes end at the years 1 and
            # 9999, PostgreSQL's do not, and one row past them broke every page that listed it.
            models.CheckConstraint(
                condition=Q(kickoff_at__gte=KICKOFF_RANGE[0], kickoff_at__lt=KICKOFF_RANGE[1]),
                name="stats_match_kickoff_readable",
                violation_error_message="The kickoff must fall between the years 2 and 9998.",
            ),
        ]

    def __str__(self) -> str:
        score = "" if self.home_score is None else f" {self.home_score}-{self.away_score}"
        return (
            f"{self.home_team} v {self.away_team}{score} ({self.competition}, round {self.round})"
        )

    def save(self, *args: Any, **kwargs: Any) -> None:
        # One transaction for the row and the scoring job its post_save receiver queues.
        with transaction.atomic(using=kwargs.get("using")):
            self._save_result(*args, **kwargs)

    def _save_result(self, *args: Any, **kwargs: Any) -> None:
        stamp_completed_at = self.is_settled and (
            self.completed_at is None or self.changed_result() is not None
        )
        if stamp_completed_at or (not self.is_settled and self.completed_at is not None):
            self.completed_at = timezone.now() if self.is_settled else None
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "completed_at"}
        super().save(*args, **kwargs)
        self._loaded_result = self._result()

    def changed_result(self) -> ResultChange | None:
        """How this instance's result differs from the one last loaded or saved: what saving it
        does to its predictions' points (in a post_save receiver: what the save just did)."""
        previous = self._loaded_result
        was_settled = previous is not None and previous[0] in self.SETTLED_STATUSES
        if previous is not None and previous == self._result():
            return None
        if self.is_settled:
            return ResultChange.CORRECTION if was_settled else ResultChange.FRESH
        return ResultChange.WITHDRAWN if was_settled else None

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        super().refresh_from_db(*args, **kwargs)
        self._loaded_result = self._result()

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any) -> Match:
        instance = super().from_db(db, field_names, values)
        instance._loaded_result = instance._result()
        return instance

    @property
    def is_settled(self) -> bool:
        return self.status in self.SETTLED_STATUSES

    @property
    def is_void(self) -> bool:
        return self.status in self.VOID_STATUSES

    def _result(self) -> tuple[str, int | None, int | None]:
        return (self.status, self.home_score, self.away_score)

    def clean(self) -> None:
        """The admin's form (and any full_clean) refuses what the results feed refuses."""
        problem = self.result_problem(self.status, self.home_score, self.away_score)
        # The other two rules are also constraints, which full_clean() reports in these words.
        if problem is not None and problem not in (SCORES_TOGETHER, COMPLETED_NEEDS_SCORE):
            raise ValidationError(_sentence(problem))

    @classmethod
    def result_problem(
        cls, status: str, home_score: int | None, away_score: int | None
    ) -> str | None:
        """What is wrong with this status and score together, or None: the one rule, used by
        `clean()` (the admin) and by the results feed (stats/football_json.py). A score belongs
        to a completed match (its final score) or a live one (the score so far); a scheduled,
        postponed or cancelled match has none, so setting a completed match back to scheduled
        or void needs its score cleared, as the feed clears it."""
        if (home_score is None) != (away_score is None):
            return SCORES_TOGETHER
        if status == cls.Status.COMPLETED and home_score is None:
            return COMPLETED_NEEDS_SCORE
        if status not in cls.SCORED_STATUSES and home_score is not None:
            return (
                f"a {cls.Status(status).label.lower()} match has no score: clear both scores, "
                f"or set the status to completed"
            )
        return None


# The trigger that closes predictions at kickoff (stats/sql/migrations/0008_*); a bulk load of
# history disables it by this name for that load only.
PREDICTION_KICKOFF_TRIGGER = "stats_prediction_close_at_kickoff"


class Prediction(models.Model):
    # Scores are PositiveSmallIntegerFields: Django gives each a CHECK (>= 0) in the database.
    # The unique (user, match) index serves lookups by user; no separate index is needed.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="predictions",
        db_index=False,
    )
    match = models.ForeignKey(Match, on_delete=models.CASCADE, related_name="predictions")
    home_score = models.PositiveSmallIntegerField()
    away_score = models.PositiveSmallIntegerField()
    points = models.PositiveSmallIntegerField(
        null=True, blank=True, editable=False, help_text="NULL until scored, and for void matches."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "match"], name="stats_prediction_one_per_match"
            ),
        ]
        indexes = [
            # The sweep looks for completed matches with an unscored prediction; scored rows
            # (nearly all of a played season) stay out of it.
            models.Index(
                fields=["match"],
                name="stats_prediction_unscored_idx",
                condition=Q(points__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} predicts {self.home_score}-{self.away_score} for match {self.match_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save, or raise PredictionClosed with the database's reason (see `clean`)."""
        try:
            with transaction.atomic(using=kwargs.get("using")):
                super().save(*args, **kwargs)
        except IntegrityError as error:
            cause = error.__cause__
            if getattr(cause, "sqlstate", None) != PredictionClosed.SQLSTATE:
                raise
            raise PredictionClosed(cause.diag.message_primary) from error  # type: ignore[union-attr]

    def clean(self) -> None:
        """Refuse a new prediction, or changed scores, for a match that has kicked off or is no
        longer scheduled: the reason comes from the same SQL function the database's trigger
        uses, with the database's clock."""
        if self.match_id is None or not self._makes_a_prediction():
            return
        if (reason := self.closed_reason()) is not None:
            raise PredictionClosed(reason)

    def closed_reason(self) -> str | None:
        """Why this prediction's match takes no more predictions, or None while it does."""
        with connections[router.db_for_write(Prediction)].cursor() as cursor:
            cursor.execute("SELECT stats_prediction_closed_reason(%s)", [self.match_id])
            (reason,) = cursor.fetchone()
        return reason  # type: ignore[no-any-return]

    def _makes_a_prediction(self) -> bool:
        if self._state.adding:
            return True
        stored = (
            Prediction.objects.filter(pk=self.pk)
            .values_list("user_id", "match_id", "home_score", "away_score")
            .first()
        )
        return stored != (self.user_id, self.match_id, self.home_score, self.away_score)

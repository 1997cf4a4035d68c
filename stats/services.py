"""Writes: score a match's predictions, the sweep (the statistics' refresh is stats/refresh.py)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from stats.exceptions import MatchNotFound
from stats.jobs import enqueue_match_scoring, enqueue_stats_refresh
from stats.models import Match
from stats.refresh import stats_behind_writes
from stats.scoring import PointTiers
from stats.sql import load_sql


@dataclass(frozen=True)
class MatchScoring:
    match_id: int
    status: str
    predictions_changed: int
    stamped: bool

    @property
    def changed_anything(self) -> bool:
        return self.predictions_changed > 0 or self.stamped


@transaction.atomic
def match_score_predictions(*, match_id: int) -> MatchScoring:
    """Score every prediction of a match from its latest result, in one statement.

    A completed match gets points; a void one (cancelled, postponed) and one taken back to
    scheduled or live (a result withdrawn) get NULL. The match row stays locked until commit, so
    two scorings of one match never interleave and a result saved meanwhile waits. Only
    predictions whose points change are written, and `points_calculated_at` only when it is
    older than the result: re-scoring writes nothing.
    """
    match = Match.objects.select_for_update().filter(pk=match_id).first()
    if match is None:
        raise MatchNotFound(f"match {match_id} does not exist")

    scored = match.status == Match.Status.COMPLETED
    tiers = PointTiers.from_settings()
    with connection.cursor() as cursor:
        cursor.execute(
            load_sql("score_match.sql"),
            {
                "match_id": match.pk,
                "result_home": match.home_score if scored else None,
                "result_away": match.away_score if scored else None,
                "exact_points": tiers.exact,
                "goal_difference_points": tiers.goal_difference,
                "outcome_points": tiers.outcome,
            },
        )
        predictions_changed = cursor.rowcount
    to_stamp = Match.objects.filter(pk=match.pk)
    if match.is_settled:
        to_stamp = to_stamp.with_stale_points()
    elif predictions_changed == 0:
        # Nothing withdrawn: a scheduled or live match without points keeps no stamp.
        to_stamp = to_stamp.none()
    stamped = bool(to_stamp.update(points_calculated_at=timezone.now()))
    return MatchScoring(match.pk, match.status, predictions_changed, stamped)


def stats_sweep(*, limit: int = 500) -> dict[str, int]:
    """Safety net: queue scoring for settled matches with missing or stale points or an
    unscored prediction, oldest first, and a refresh when changes are logged that no refresh
    covers."""
    stale_ids = list(
        Match.objects.needing_scoring()
        .order_by("completed_at")
        .values_list("pk", flat=True)[:limit]
    )
    scoring_queued = sum(enqueue_match_scoring(match_id) is not None for match_id in stale_ids)
    refresh_queued = 0
    if stats_behind_writes():
        refresh_queued = int(
            enqueue_stats_refresh(delay_seconds=settings.STATS_REFRESH_DELAY) is not None
        )
    return {
        "stale_matches": len(stale_ids),
        "scoring_queued": scoring_queued,
        "refresh_queued": refresh_queued,
    }


def matches_rescore() -> int:
    """Score again every match that is settled or holds points (`rebuild_stats --rescore`), one
    transaction each, so that stored points follow the scoring tiers in force; how many
    predictions changed."""
    ids = (
        Match.objects.filter(
            Q(status__in=Match.SETTLED_STATUSES) | Q(predictions__points__isnull=False)
        )
        .order_by("pk")
        .values_list("pk", flat=True)
        .distinct()
    )
    return sum(match_score_predictions(match_id=match_id).predictions_changed for match_id in ids)

"""Writes: score a match's predictions, the sweep and the job housekeeping (the statistics'
refresh and rebuild are stats/refresh.py)."""

from __future__ import annotations

from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from stats.exceptions import MatchNotFound
from stats.job_errors import prune_job_errors
from stats.jobs import (
    delete_finished_jobs,
    enqueue_match_scoring,
    enqueue_stats_refresh,
    matches_being_scored,
    rescue_stalled_jobs,
)
from stats.models import Match
from stats.refresh import RefreshStep, stats_behind_writes, stats_refresh
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


def match_score_then_refresh(*, match_id: int) -> MatchScoring:
    """What follows a result: score the match's predictions (match_score_predictions) and, once
    that commits, queue the batched refresh (STATS_REFRESH_DELAY) if anything changed. The one
    place the refresh after a result is queued."""
    with transaction.atomic():
        scoring = match_score_predictions(match_id=match_id)
        if scoring.changed_anything:
            # After commit, so the refresh (or the one already waiting) sees these points.
            transaction.on_commit(
                lambda: enqueue_stats_refresh(delay_seconds=settings.STATS_REFRESH_DELAY)
            )
    return scoring


def stats_sweep(*, limit: int = 500) -> dict[str, int]:
    """Safety net: queue scoring for settled matches with missing or stale points or an
    unscored prediction, oldest first (but those whose scoring runs now: read first, so a job
    that commits meanwhile leaves its match fresh), and a refresh when changes are logged that no
    refresh covers."""
    being_scored = matches_being_scored()
    stale_ids = [
        match_id
        for match_id in Match.objects.needing_scoring()
        .order_by("completed_at")
        .values_list("pk", flat=True)[:limit]
        if match_id not in being_scored
    ]
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


def statistics_refresh() -> list[RefreshStep]:
    """The batched refresh job's work: bring the statistics up to date (stats/refresh.py)."""
    return stats_refresh()


def stalled_jobs_rescue() -> list[int]:
    """Put back in the queue the jobs of workers silent for STATS_STALLED_WORKER_TIMEOUT s."""
    return rescue_stalled_jobs(seconds_since_heartbeat=settings.STATS_STALLED_WORKER_TIMEOUT)


async def finished_jobs_prune() -> dict[str, int]:
    """Delete succeeded and cancelled jobs older than STATS_JOB_RETENTION_HOURS, and failed ones
    (with their recorded errors) older than STATS_FAILED_JOB_RETENTION_DAYS."""
    failed_hours = settings.STATS_FAILED_JOB_RETENTION_DAYS * 24
    await delete_finished_jobs(hours=settings.STATS_JOB_RETENTION_HOURS, include_failed=False)
    await delete_finished_jobs(hours=failed_hours, include_failed=True)
    errors_deleted = await sync_to_async(prune_job_errors)(older_than_hours=failed_hours)
    return {
        "retention_hours": settings.STATS_JOB_RETENTION_HOURS,
        "failed_retention_hours": failed_hours,
        "job_errors_deleted": errors_deleted,
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

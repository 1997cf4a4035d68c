"""Writes: score a match's predictions, refresh the materialized views."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateEvent
from psycopg import sql

from stats.exceptions import MatchNotFound, ViewNotRefreshable
from stats.jobs import REFRESH_STATS_VIEWS, enqueue_match_scoring, enqueue_stats_refresh
from stats.matviews import STATS_VIEWS, MaterializedView, view_states
from stats.models import Match, ViewRefresh
from stats.scoring import PointTiers
from stats.sql import load_sql

logger = logging.getLogger(__name__)


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


# Scoring stamps points_calculated_at as the last step before its transaction commits (a few ms);
# a refresh that started in between would look fresher than it is, so the sweep allows this much
# slack. More would make every burst cost an extra refresh.
STAMP_TO_COMMIT_SLACK = timedelta(seconds=5)


def stats_sweep(*, limit: int = 500) -> dict[str, int]:
    """Safety net: queue scoring for settled matches with missing or stale points or an
    unscored prediction, oldest first, and a refresh when points changed since the views were
    last refreshed."""
    stale_ids = list(
        Match.objects.needing_scoring()
        .order_by("completed_at")
        .values_list("pk", flat=True)[:limit]
    )
    scoring_queued = sum(enqueue_match_scoring(match_id) is not None for match_id in stale_ids)
    refresh_queued = 0
    if views_behind_points():
        refresh_queued = int(
            enqueue_stats_refresh(delay_seconds=settings.STATS_REFRESH_DELAY) is not None
        )
    return {
        "stale_matches": len(stale_ids),
        "scoring_queued": scoring_queued,
        "refresh_queued": refresh_queued,
    }


def views_behind_points() -> bool:
    """Whether some match's points were calculated after the views last caught up: after the
    oldest view's last refresh began, and after the start of a refresh running now (which
    will cover them; without it, a sweep during a refresh would queue a needless follow-up)."""
    newest_points = Match.objects.aggregate(newest=Max("points_calculated_at"))["newest"]
    if newest_points is None:
        return False
    caught_up_at = [
        ViewRefresh.objects.refreshed_through(view.name for view in STATS_VIEWS),
        ProcrastinateEvent.objects.filter(
            type="started", job__task_name=REFRESH_STATS_VIEWS, job__status="doing"
        ).aggregate(started=Max("at"))["started"],
    ]
    horizon = max((moment for moment in caught_up_at if moment is not None), default=None)
    return horizon is None or newest_points > horizon - STAMP_TO_COMMIT_SLACK


@dataclass(frozen=True)
class ViewRefreshTiming:
    view_name: str
    duration_ms: int


def stats_views_refresh() -> list[ViewRefreshTiming]:
    """Refresh every stats view CONCURRENTLY, one transaction each, so readers never wait."""
    return [materialized_view_refresh(view) for view in STATS_VIEWS]


def materialized_view_refresh(view: MaterializedView) -> ViewRefreshTiming:
    """Refresh one view CONCURRENTLY; refuse (rather than block readers) without a unique index.

    The refresh waits at most STATS_REFRESH_LOCK_TIMEOUT seconds for a lock (another refresh
    of the same view, a migration) and then fails with a lock timeout, to be retried.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        states = view_states(cursor, [view.name])
        if not states.get(view.name):
            problem = "does not exist" if view.name not in states else "has no unique index"
            raise ViewNotRefreshable(
                f"materialized view {view.name} {problem}; a concurrent refresh is impossible. "
                "Run `manage.py migrate` and `manage.py check --database default`."
            )
        cursor.execute(
            "SELECT set_config('lock_timeout', %s, true)",
            [f"{settings.STATS_REFRESH_LOCK_TIMEOUT}s"],
        )
        started_at, started = timezone.now(), time.perf_counter()
        cursor.execute(
            sql.SQL("REFRESH MATERIALIZED VIEW CONCURRENTLY {}")
            .format(sql.Identifier(view.name))
            .as_string(cursor.connection)
        )
        duration_ms = round((time.perf_counter() - started) * 1000)
        ViewRefresh.objects.update_or_create(
            view_name=view.name,
            # The start, not the end: writes committed after it may be missing from the view.
            defaults={"refreshed_at": started_at, "duration_ms": duration_ms},
        )
    logger.info("%s refreshed in %dms", view.name, duration_ms)
    return ViewRefreshTiming(view.name, duration_ms)

"""Writes: score a match's predictions, refresh the statistics, rebuild them from scratch."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.backends.utils import CursorWrapper
from django.utils import timezone
from psycopg import sql

from stats.exceptions import MatchNotFound, ViewNotRefreshable
from stats.job_errors import prune_job_errors
from stats.jobs import (
    delete_finished_jobs,
    enqueue_match_scoring,
    enqueue_stats_refresh,
    refresh_running_since,
    rescue_stalled_jobs,
)
from stats.models import Match, ViewRefresh
from stats.relations import (
    COMPETITION_BOARDS,
    COMPETITION_TOTALS,
    MATCH_SUMMARIES,
    OVERALL_BOARD,
    ROUND_BOARDS,
    STATS_RELATIONS,
    relation_problem,
    relation_states,
)
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
    if stats_behind_writes():
        refresh_queued = int(
            enqueue_stats_refresh(delay_seconds=settings.STATS_REFRESH_DELAY) is not None
        )
    return {
        "stale_matches": len(stale_ids),
        "scoring_queued": scoring_queued,
        "refresh_queued": refresh_queued,
    }


def pending_marks() -> tuple[int, datetime | None]:
    """Writes marked and not refreshed yet: how many marks, and when the newest was made."""
    with connection.cursor() as cursor:
        cursor.execute(load_sql("refresh/pending_marks.sql"))
        count, newest = cursor.fetchone()
    return int(count), newest


def stats_behind_writes() -> bool:
    """Whether some write touched the statistics after the refresh running now started (it will
    not cover it), or at all when none runs: then a refresh is needed."""
    _, newest_mark = pending_marks()
    if newest_mark is None:
        return False
    running_since = refresh_running_since()
    return running_since is None or newest_mark > running_since - STAMP_TO_COMMIT_SLACK


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


@dataclass(frozen=True)
class RefreshStep:
    """One step of a refresh: the relation it brought up to date (or the marks it consumed)."""

    name: str
    duration_ms: int


MARKS_STEP = "touched rounds and matches"


def stats_refresh() -> list[RefreshStep]:
    """Bring every statistics relation up to date with the writes marked since the last refresh.

    Only the touched round boards and match summaries are recomputed, each user's difference is
    carried to the competition totals, and the two materialized views are refreshed CONCURRENTLY
    from those totals (skipped when no total changed). One REPEATABLE READ transaction: the marks
    it consumes and the predictions it reads are one snapshot (a write committed meanwhile keeps
    its mark for the follow-up), and every board commits at once; readers never wait.
    """
    return _recompute(everything=False)


def stats_rebuild() -> list[RefreshStep]:
    """Recompute every statistics relation from the predictions, writing only what differs;
    safe while workers run (it takes the refresh's lock, and pending marks are covered)."""
    return _recompute(everything=True)


# One lock serialises refresh and rebuild. Session-level, taken before the transaction: a
# REPEATABLE READ snapshot taken while waiting would miss what the previous holder committed.
_LOCK_SQL = "SELECT pg_advisory_lock(hashtextextended('stats refresh', 0))"
_UNLOCK_SQL = "SELECT pg_advisory_unlock(hashtextextended('stats refresh', 0))"


@contextmanager
def _refresh_lock() -> Iterator[None]:
    """Wait at most STATS_REFRESH_LOCK_TIMEOUT seconds (then fail, to be retried)."""
    with transaction.atomic(), connection.cursor() as cursor:
        _bound_lock_waits(cursor)
        cursor.execute(_LOCK_SQL)
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute(_UNLOCK_SQL)
        except DatabaseError:
            # The connection is gone, and the session's lock with it; keep the first error.
            logger.warning("the stats refresh lock was not released: the connection is gone")


def _bound_lock_waits(cursor: CursorWrapper) -> None:
    cursor.execute(
        "SELECT set_config('lock_timeout', %s, true)", [f"{settings.STATS_REFRESH_LOCK_TIMEOUT}s"]
    )


def _refuse_broken_relations() -> None:
    with connection.cursor() as cursor:
        states = relation_states(cursor, [relation.name for relation in STATS_RELATIONS])
    for relation in STATS_RELATIONS:
        problem = relation_problem(relation, states.get(relation.name))
        if problem is not None:
            raise ViewNotRefreshable(
                f"the statistics cannot be refreshed: {problem}. "
                "Run `manage.py migrate` and `manage.py check --database default`."
            )


def _recompute(*, everything: bool) -> list[RefreshStep]:
    _refuse_broken_relations()
    own_transaction = not connection.in_atomic_block
    steps: list[RefreshStep] = []
    with _refresh_lock(), transaction.atomic(), connection.cursor() as cursor:
        if own_transaction:  # inside a caller's transaction (a test), its snapshot rules
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        _bound_lock_waits(cursor)
        # One refresh runs at a time: its sorts and the concurrent refreshes' diff joins may use
        # more memory than a request's (measured: a board's refresh 438 -> 403 ms at 4 -> 64 MB).
        cursor.execute("SELECT set_config('work_mem', '64MB', true)")
        # The snapshot's start, not the end: writes committed after it may be missing.
        refreshed_at = timezone.now()

        def step(name: str, statement: str) -> None:
            started = time.perf_counter()
            cursor.execute(statement)
            steps.append(RefreshStep(name, round((time.perf_counter() - started) * 1000)))

        scope = "touched_everything.sql" if everything else "touched_since_last_refresh.sql"
        step(MARKS_STEP, load_sql(f"refresh/{scope}"))
        step(ROUND_BOARDS.name, load_sql(*ROUND_BOARDS.refresh_sql))
        carry, recount = COMPETITION_TOTALS.refresh_sql
        step(COMPETITION_TOTALS.name, load_sql(recount if everything else carry))
        if not everything:
            cursor.execute(load_sql("refresh/totals_changed.sql"))
        totals_changed = everything or cursor.fetchone()[0]
        step(MATCH_SUMMARIES.name, load_sql(*MATCH_SUMMARIES.refresh_sql))
        for view in (COMPETITION_BOARDS, OVERALL_BOARD):
            # Unchanged totals leave the view as it is: no need to recompute it.
            refresh = sql.SQL("REFRESH MATERIALIZED VIEW CONCURRENTLY {}").format(
                sql.Identifier(view.name)
            )
            step(view.name, refresh.as_string(cursor.connection) if totals_changed else "SELECT")
        for done in steps[1:]:
            ViewRefresh.objects.update_or_create(
                view_name=done.name,
                defaults={"refreshed_at": refreshed_at, "duration_ms": done.duration_ms},
            )
    for done in steps:
        logger.info("%s refreshed in %dms", done.name, done.duration_ms)
    return steps

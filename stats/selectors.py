"""Reads: leaderboard pages, a user's standings, queue health and freshness.

Boards are read only from the materialized views, ordered the way their indexes are, so a page is
an index range scan however large the league grows. Ages are measured against one `now` per call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Exists, F, Max, Min, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateEvent, ProcrastinateJob

from stats.matviews import STATS_VIEWS
from stats.models import (
    Competition,
    CompetitionStanding,
    LeaderboardEntry,
    Match,
    MaterializedViewModel,
    Prediction,
    RoundStanding,
    ViewRefresh,
)
from stats.sql import load_sql

# Procrastinate's job statuses, in the order a job lives through them.
JOB_STATUSES: tuple[str, ...] = tuple(ProcrastinateJob.STATUSES)
# The statuses of jobs still in the queue: waiting, or taken by a worker.
QUEUED_STATUSES: tuple[str, ...] = ("todo", "doing")
LEADERBOARD_VIEWS: tuple[str, ...] = (
    "stats_leaderboard",
    "stats_competition_leaderboard",
    "stats_round_leaderboard",
)


class UnknownCompetition(LookupError):
    """No competition has this slug."""


class PageOutOfRange(LookupError):
    """The board has fewer pages than the one asked for."""


# --- Leaderboards ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Board:
    """Which board: the overall one, a competition's, or one round of a competition."""

    view_name: str
    model: type[MaterializedViewModel]
    columns: tuple[str, ...]
    competition: Competition | None = None
    round: int | None = None


_STANDING_COLUMNS = ("total_points", "predictions_scored", "exact_scores", "correct_outcomes")
_ROUND_COLUMNS = ("total_points", "exact_scores")


def board_get(*, competition_slug: str | None = None, round: int | None = None) -> Board:
    """The board for a competition slug and round (both optional; a round needs a competition).

    Raises UnknownCompetition when no competition has the slug.
    """
    if competition_slug is None:
        if round is not None:
            raise ValueError("a round board needs a competition")
        return Board("stats_leaderboard", LeaderboardEntry, _STANDING_COLUMNS)
    competition = Competition.objects.filter(slug=competition_slug).first()
    if competition is None:
        raise UnknownCompetition(f"no competition has the slug {competition_slug!r}")
    if round is None:
        return Board(
            "stats_competition_leaderboard", CompetitionStanding, _STANDING_COLUMNS, competition
        )
    return Board("stats_round_leaderboard", RoundStanding, _ROUND_COLUMNS, competition, round)


def _board_rows(board: Board) -> QuerySet[Any, Any]:
    rows: QuerySet[Any, Any] = board.model._default_manager.all()
    if board.competition is not None:
        rows = rows.filter(competition_id=board.competition.pk)
    if board.round is not None:
        rows = rows.filter(round=board.round)
    return rows


def board_standings(*, board: Board) -> QuerySet[Any, dict[str, Any]]:
    """Every row of a board as plain dicts, best first, with the username joined in.

    Rows are ordered by their stored position (rank order, ties by user id), which each view
    indexes within its competition and round: filter a position range to read one page.
    """
    return (
        _board_rows(board)
        .order_by("position")
        .values("rank", "user_id", *board.columns, username=F("user__username"))
    )


@dataclass(frozen=True)
class LeaderboardPage:
    board: Board
    entries: list[dict[str, Any]]
    page: int
    page_size: int
    total_entries: int
    refreshed_at: datetime | None

    @property
    def total_pages(self) -> int:
        """Pages in the board; an empty board still has its (empty) first page."""
        return max(1, math.ceil(self.total_entries / self.page_size))


def leaderboard_page(*, board: Board, page: int, page_size: int) -> LeaderboardPage:
    """One page of a board: its size, then one query for the page's rows with usernames.

    Both are index lookups at any depth: the size is the board's last position, and the page a
    range of positions (an OFFSET would walk every row before the page).
    Raises PageOutOfRange past the last page; page 1 of an empty board is an empty page.
    """
    total_entries = _board_rows(board).aggregate(last=Max("position"))["last"] or 0
    if page > 1 and (page - 1) * page_size >= total_entries:
        raise PageOutOfRange(
            f"page {page} is past the end: the board has "
            f"{max(1, math.ceil(total_entries / page_size))} page(s) of {page_size}"
        )
    offset = (page - 1) * page_size
    entries = list(
        board_standings(board=board).filter(position__gt=offset, position__lte=offset + page_size)
    )
    refresh = ViewRefresh.objects.filter(view_name=board.view_name).first()
    return LeaderboardPage(
        board=board,
        entries=entries,
        page=page,
        page_size=page_size,
        total_entries=total_entries,
        refreshed_at=refresh.refreshed_at if refresh else None,
    )


def user_board_standing(*, board: Board, user_id: int) -> dict[str, Any] | None:
    """A user's row on a board (rank and totals), or None when they are not on it."""
    return board_standings(board=board).filter(user_id=user_id).first()


def competition_list() -> QuerySet[Competition]:
    return Competition.objects.order_by("name", "slug")


def competition_rounds(*, competition: Competition) -> list[int]:
    """The rounds (matchdays) a competition has matches in, in order."""
    return list(
        Match.objects.filter(competition=competition)
        .order_by("round")
        .values_list("round", flat=True)
        .distinct()
    )


# --- A user's stats ----------------------------------------------------------------------------


@dataclass(frozen=True)
class UserStats:
    user_id: int
    username: str
    overall: dict[str, Any]
    competitions: list[dict[str, Any]]
    rounds: list[dict[str, Any]]
    refreshed_at: datetime | None


def user_stats(*, user_id: int) -> UserStats | None:
    """A user's totals and rank overall, in each competition and in each round they appear in.

    None for an unknown user; a user with nothing scored gets zero totals, no rank, no boards.
    The competition and round boards are indexed by (competition, [round,] user), not by user, so
    the (competition, round) pairs are first found from the user's own predictions (their unique
    (user, match) index), then each board row is an index lookup.
    """
    user = get_user_model()._default_manager.filter(pk=user_id).values("pk", "username").first()
    if user is None:
        return None
    overall = (
        LeaderboardEntry.objects.filter(user_id=user_id).values("rank", *_STANDING_COLUMNS).first()
    ) or {"rank": None, **dict.fromkeys(_STANDING_COLUMNS, 0)}

    played: dict[int, set[int]] = {}
    for competition_id, round in (
        Prediction.objects.filter(user_id=user_id, points__isnull=False)
        .values_list("match__competition_id", "match__round")
        .distinct()
    ):
        played.setdefault(competition_id, set()).add(round)

    competitions: list[dict[str, Any]] = []
    rounds: list[dict[str, Any]] = []
    if played:
        competitions = list(
            CompetitionStanding.objects.filter(user_id=user_id, competition_id__in=played)
            .order_by("competition__name", "competition_id")
            .values(
                "rank",
                *_STANDING_COLUMNS,
                competition_slug=F("competition__slug"),
                competition_name=F("competition__name"),
            )
        )
        in_rounds = Q()
        for competition_id, played_rounds in played.items():
            in_rounds |= Q(competition_id=competition_id, round__in=sorted(played_rounds))
        rounds = list(
            RoundStanding.objects.filter(in_rounds, user_id=user_id)
            .order_by("competition__name", "competition_id", "round")
            .values("round", "rank", *_ROUND_COLUMNS, competition_slug=F("competition__slug"))
        )
    refreshes = ViewRefresh.objects.filter(view_name__in=LEADERBOARD_VIEWS)
    refreshed = [refresh.refreshed_at for refresh in refreshes]
    return UserStats(
        user_id=user["pk"],
        username=user["username"],
        overall=overall,
        competitions=competitions,
        rounds=rounds,
        # The boards are as fresh as the least recently refreshed of them.
        refreshed_at=min(refreshed) if len(refreshed) == len(LEADERBOARD_VIEWS) else None,
    )


# --- Queue health ------------------------------------------------------------------------------


def _age_seconds(since: datetime | None, now: datetime) -> float | None:
    return None if since is None else max(0.0, (now - since).total_seconds())


def queue_depth() -> dict[str, int]:
    """Jobs still queued, by status (`todo` waiting, `doing` running); cheap: a partial index."""
    counts = dict(
        ProcrastinateJob.objects.filter(status__in=QUEUED_STATUSES)
        .values_list("status")
        .annotate(jobs=Count("id"))
        .values_list("status", "jobs")
    )
    return {status: counts.get(status, 0) for status in QUEUED_STATUSES}


def jobs_by_task_and_status() -> dict[tuple[str, str], int]:
    """Every job in Procrastinate's table, counted by (task name, status)."""
    return {
        (task_name, status): jobs
        for task_name, status, jobs in ProcrastinateJob.objects.values_list("task_name", "status")
        .annotate(jobs=Count("id"))
        .values_list("task_name", "status", "jobs")
        .order_by("task_name", "status")
    }


def oldest_due_job_age(*, now: datetime | None = None) -> float | None:
    """Seconds the longest-waiting due job (`todo`, scheduled_at unset or past) has waited.

    A job scheduled for later is not late. A due job waits from its scheduled time or, if it has
    none, from its latest (re-)deferral, which only Procrastinate's events record.
    """
    now = now or timezone.now()
    deferred_at = (
        ProcrastinateEvent.objects.filter(
            job_id=OuterRef("pk"), type__in=("deferred", "deferred_for_retry", "retried")
        )
        .order_by("-at")
        .values("at")[:1]
    )
    oldest = (
        ProcrastinateJob.objects.filter(status="todo")
        .filter(Q(scheduled_at__isnull=True) | Q(scheduled_at__lte=now))
        .annotate(waiting_since=Coalesce("scheduled_at", Subquery(deferred_at)))
        .aggregate(oldest=Min("waiting_since"))["oldest"]
    )
    return _age_seconds(oldest, now)


def failed_jobs_count(*, since: timedelta = timedelta(days=1), now: datetime | None = None) -> int:
    """Jobs that failed for good (no retry left) within `since`."""
    now = now or timezone.now()
    failed_lately = ProcrastinateEvent.objects.filter(
        job_id=OuterRef("pk"), type="failed", at__gte=now - since
    )
    return ProcrastinateJob.objects.filter(status="failed").filter(Exists(failed_lately)).count()


@dataclass(frozen=True)
class QueueReport:
    jobs: dict[tuple[str, str], int]
    oldest_due_job_age: float | None
    failed_last_day: int
    jobs_by_status: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        by_status = dict.fromkeys(JOB_STATUSES, 0)
        for (_task, status), jobs in self.jobs.items():
            by_status[status] = by_status.get(status, 0) + jobs
        object.__setattr__(self, "jobs_by_status", by_status)


def queue_report(*, now: datetime | None = None) -> QueueReport:
    """Everything about the queue an operator looks at: counts, lag, recent failures."""
    now = now or timezone.now()
    return QueueReport(
        jobs=jobs_by_task_and_status(),
        oldest_due_job_age=oldest_due_job_age(now=now),
        failed_last_day=failed_jobs_count(now=now),
    )


# --- Freshness ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ViewFreshness:
    view_name: str
    refreshed_at: datetime | None
    age: float | None
    duration_ms: int | None


@dataclass(frozen=True)
class Freshness:
    stale_matches: int
    oldest_stale_age: float | None
    views: list[ViewFreshness]

    @property
    def last_refresh_age(self) -> float | None:
        """Age of the least recently refreshed view; None while any view was never refreshed."""
        ages = [view.age for view in self.views]
        return None if any(age is None for age in ages) else max(age or 0.0 for age in ages)


def stale_points(*, now: datetime | None = None) -> tuple[int, float | None]:
    """Settled matches whose points are missing or older than their result, and the age of the
    oldest such result in seconds (None when there is none)."""
    now = now or timezone.now()
    stale = (
        Match.objects.settled()
        .with_stale_points()
        .aggregate(matches=Count("id"), oldest=Min("completed_at"))
    )
    return stale["matches"], _age_seconds(stale["oldest"], now)


def view_freshness(*, now: datetime | None = None) -> list[ViewFreshness]:
    """Each stats view's last refresh, its age in seconds and how long it took."""
    now = now or timezone.now()
    refreshes = {refresh.view_name: refresh for refresh in ViewRefresh.objects.all()}
    views = []
    for view in STATS_VIEWS:
        refresh = refreshes.get(view.name)
        views.append(
            ViewFreshness(
                view_name=view.name,
                refreshed_at=refresh.refreshed_at if refresh else None,
                age=_age_seconds(refresh.refreshed_at if refresh else None, now),
                duration_ms=refresh.duration_ms if refresh else None,
            )
        )
    return views


def freshness(*, now: datetime | None = None) -> Freshness:
    """How far the stats lag behind the results: stale points and each view's last refresh."""
    now = now or timezone.now()
    stale_matches, oldest_stale_age = stale_points(now=now)
    return Freshness(stale_matches, oldest_stale_age, view_freshness(now=now))


# --- Health ------------------------------------------------------------------------------------

# The contract's promise: a result shows in the points and on the boards within an hour.
STATS_MAX_LAG = 3600


def unrefreshed_points_age(
    *, last_refresh: datetime | None, now: datetime | None = None
) -> float | None:
    """Seconds since the earliest scoring that no view refresh has followed yet (None if none)."""
    now = now or timezone.now()
    scored = Match.objects.filter(points_calculated_at__isnull=False)
    if last_refresh is not None:
        scored = scored.filter(points_calculated_at__gt=last_refresh)
    return _age_seconds(scored.aggregate(oldest=Min("points_calculated_at"))["oldest"], now)


@dataclass(frozen=True)
class Health:
    database_ok: bool
    reasons: list[str]
    queue_depth: dict[str, int] = field(default_factory=dict)
    oldest_due_job_age: float | None = None
    stale_matches: int | None = None
    oldest_stale_age: float | None = None
    last_refresh_age: float | None = None
    unrefreshed_points_age: float | None = None

    @property
    def ok(self) -> bool:
        return not self.reasons


def health_check(*, max_queue_age: float, max_lag: float = STATS_MAX_LAG) -> Health:
    """Whether the database answers and the pipeline keeps up, with the reasons when not.

    A handful of small queries, each bounded by a statement timeout: a health check that hangs
    is worse than one that fails. Never raises for a database that is down or too slow.
    """
    now = timezone.now()
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT set_config('statement_timeout', '5s', true)")
            depth = queue_depth()
            oldest_job = oldest_due_job_age(now=now)
            stale_matches, oldest_stale = stale_points(now=now)
            views = view_freshness(now=now)
            refreshed = [view.refreshed_at for view in views]
            last_refresh = None if None in refreshed else min(r for r in refreshed if r)
            unrefreshed = unrefreshed_points_age(last_refresh=last_refresh, now=now)
    except DatabaseError as exc:
        problem = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Health(database_ok=False, reasons=[f"database unreachable: {problem}"])

    reasons = []
    if oldest_job is not None and oldest_job > max_queue_age:
        reasons.append(
            f"a due job has waited {oldest_job:.0f} s (limit {max_queue_age:.0f} s): "
            "are the workers running?"
        )
    if oldest_stale is not None and oldest_stale > max_lag:
        reasons.append(
            f"{stale_matches} match(es) have stale points, the oldest for {oldest_stale:.0f} s "
            f"(limit {max_lag:.0f} s)"
        )
    if unrefreshed is not None and unrefreshed > max_lag:
        reasons.append(
            f"points scored {unrefreshed:.0f} s ago are not in the views yet "
            f"(limit {max_lag:.0f} s): is the refresh job failing?"
        )
    last_refresh_age = None if last_refresh is None else _age_seconds(last_refresh, now)
    return Health(
        database_ok=True,
        reasons=reasons,
        queue_depth=depth,
        oldest_due_job_age=oldest_job,
        stale_matches=stale_matches,
        oldest_stale_age=oldest_stale,
        last_refresh_age=last_refresh_age,
        unrefreshed_points_age=unrefreshed,
    )


def overlapping_job_runs(*, task_name: str) -> int:
    """How many pairs of runs of `task_name` with the same arguments overlapped in time."""
    with connection.cursor() as cursor:
        cursor.execute(load_sql("overlapping_job_runs.sql"), {"task_name": task_name})
        return int(cursor.fetchone()[0])

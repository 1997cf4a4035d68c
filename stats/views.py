"""HTTP doors: parse the request, call the selectors, shape the answer (JSON, HTML, metrics)."""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from stats import selectors
from stats.jobs import request_stats_refresh_now

logger = logging.getLogger(__name__)

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 25
# PostgreSQL's integer: no board has more pages, no competition more rounds.
MAX_INTEGER = 2**31 - 1
_DIGITS = re.compile(r"[0-9]{1,10}")
_SLUG = re.compile(r"[-a-zA-Z0-9_]{1,100}")


class InvalidParameter(ValueError):
    """A query parameter is malformed or out of range; the message says which and why."""


@dataclass(frozen=True)
class BoardQuery:
    competition: str | None
    round: int | None
    page: int
    page_size: int


def _single(params: QueryDict, name: str) -> str | None:
    """The parameter's value; None when absent or empty (an empty form field means "any")."""
    values = params.getlist(name)
    if len(values) > 1:
        raise InvalidParameter(f"{name} is given {len(values)} times; give it once")
    return values[0] if values and values[0] != "" else None


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "…")


def _integer(params: QueryDict, name: str, *, low: int, high: int) -> int | None:
    value = _single(params, name)
    if value is None:
        return None
    # Only plain ASCII digits: int() would also take " 7", "+7", "7_0" and other scripts' digits.
    if not _DIGITS.fullmatch(value) or not low <= int(value) <= high:
        raise InvalidParameter(
            f"{name} must be a whole number from {low} to {high}, not {_shown(value)}"
        )
    return int(value)


def parse_board_query(params: QueryDict) -> BoardQuery:
    """The board and page a request asks for. Raises InvalidParameter with the reason."""
    competition = _single(params, "competition")
    if competition is not None and not _SLUG.fullmatch(competition):
        raise InvalidParameter(
            "competition must be a competition's slug (letters, digits, '-' and '_'), "
            f"not {_shown(competition)}"
        )
    round = _integer(params, "round", low=1, high=MAX_INTEGER)
    if round is not None and competition is None:
        raise InvalidParameter("round needs a competition: give ?competition=<slug>&round=<n>")
    page = _integer(params, "page", low=1, high=MAX_INTEGER)
    page_size = _integer(params, "page_size", low=1, high=MAX_PAGE_SIZE)
    return BoardQuery(
        competition,
        round,
        page=1 if page is None else page,
        page_size=DEFAULT_PAGE_SIZE if page_size is None else page_size,
    )


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


# --- Leaderboard API and page ------------------------------------------------------------------


def _board_page(params: QueryDict) -> selectors.LeaderboardPage:
    query = parse_board_query(params)
    board = selectors.board_get(competition_slug=query.competition, round=query.round)
    return selectors.leaderboard_page(board=board, page=query.page, page_size=query.page_size)


@require_GET
def leaderboard_api(request: HttpRequest) -> JsonResponse:
    """GET /api/leaderboard: one page of the overall, a competition's or a round's board."""
    try:
        page = _board_page(request.GET)
    except InvalidParameter as exc:
        return _error(str(exc), 400)
    except (selectors.UnknownCompetition, selectors.PageOutOfRange) as exc:
        return _error(str(exc), 404)
    competition = page.board.competition
    return JsonResponse(
        {
            "competition": competition.slug if competition else None,
            "round": page.board.round,
            "entries": page.entries,
            "page": page.page,
            "page_size": page.page_size,
            "total_entries": page.total_entries,
            "total_pages": page.total_pages,
            "refreshed_at": page.refreshed_at,
        }
    )


@require_GET
def leaderboard_page(request: HttpRequest) -> HttpResponse:
    """GET /leaderboard/: the board as HTML, with a competition and round picker."""
    context: dict[str, Any] = {
        "competitions": selectors.competition_list(),
        "page": None,
        "error": None,
        "rounds": [],
        "chosen_competition": request.GET.get("competition", ""),
        "chosen_round": request.GET.get("round", ""),
        "my_standing": None,
    }
    status = 200
    try:
        page = _board_page(request.GET)
    except InvalidParameter as exc:
        context["error"], status = str(exc), 400
    except (selectors.UnknownCompetition, selectors.PageOutOfRange) as exc:
        context["error"], status = str(exc), 404
    else:
        context["page"] = page
        if page.board.competition is not None:
            context["rounds"] = selectors.competition_rounds(competition=page.board.competition)
        if request.user.is_authenticated:
            context["my_standing"] = selectors.user_board_standing(
                board=page.board, user_id=request.user.pk
            )
    return render(request, "stats/leaderboard.html", context, status=status)


# --- A user's stats ----------------------------------------------------------------------------


@require_GET
def user_stats_api(request: HttpRequest, user_id: str) -> JsonResponse:
    """GET /api/users/<id>/stats: a user's totals and ranks on every board they are on."""
    stats = (
        selectors.user_stats(user_id=int(user_id))
        if _DIGITS.fullmatch(user_id) and int(user_id) <= MAX_INTEGER
        else None
    )
    if stats is None:
        return _error(f"no user has the id {_shown(user_id)}", 404)
    return JsonResponse(
        {
            "user": {"id": stats.user_id, "username": stats.username},
            "overall": stats.overall,
            "competitions": stats.competitions,
            "rounds": stats.rounds,
            "refreshed_at": stats.refreshed_at,
        }
    )


# --- Operations --------------------------------------------------------------------------------


def _seconds(age: float | None) -> float | None:
    return None if age is None else round(age, 3)


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """GET /health: 200 while the database answers and the pipeline keeps up, else 503."""
    report = selectors.health_check(max_queue_age=settings.STATS_HEALTH_MAX_QUEUE_AGE)
    return JsonResponse(
        {
            "status": "ok" if report.ok else "unhealthy",
            "reasons": report.reasons,
            "database": "ok" if report.database_ok else "unreachable",
            "queue_depth": report.queue_depth,
            "oldest_waiting_job_age_seconds": _seconds(report.oldest_due_job_age),
            "matches_with_stale_points": report.stale_matches,
            "oldest_stale_points_age_seconds": _seconds(report.oldest_stale_age),
            "last_refresh_age_seconds": _seconds(report.last_refresh_age),
            "unrefreshed_points_age_seconds": _seconds(report.unrefreshed_points_age),
        },
        status=200 if report.ok else 503,
    )


class StatsCollector(Collector):
    """Reads the queue and freshness from the database at each scrape."""

    def collect(self) -> Iterable[Metric]:
        queue = selectors.queue_report()
        fresh = selectors.freshness()

        jobs = GaugeMetricFamily(
            "matchday_jobs", "Procrastinate jobs by task and status.", labels=["task", "status"]
        )
        for (task, status), count in queue.jobs.items():
            jobs.add_metric([task, status], count)
        yield jobs
        yield GaugeMetricFamily(
            "matchday_jobs_failed_last_day",
            "Jobs that failed for good in the last 24 hours.",
            value=queue.failed_last_day,
        )
        yield GaugeMetricFamily(
            "matchday_oldest_waiting_job_age_seconds",
            "How long the longest-waiting due job has waited (0 when none waits).",
            value=queue.oldest_due_job_age or 0.0,
        )
        yield GaugeMetricFamily(
            "matchday_stale_matches",
            "Settled matches whose points are missing or older than their result.",
            value=fresh.stale_matches,
        )
        yield GaugeMetricFamily(
            "matchday_oldest_stale_match_age_seconds",
            "Age of the oldest result whose points are stale (0 when none is).",
            value=fresh.oldest_stale_age or 0.0,
        )
        age = GaugeMetricFamily(
            "matchday_view_refresh_age_seconds",
            "Seconds since each materialized view was last refreshed (absent if never).",
            labels=["view"],
        )
        duration = GaugeMetricFamily(
            "matchday_view_refresh_duration_seconds",
            "How long each materialized view's last refresh took.",
            labels=["view"],
        )
        for view in fresh.views:
            if view.age is not None and view.duration_ms is not None:
                age.add_metric([view.view_name], view.age)
                duration.add_metric([view.view_name], view.duration_ms / 1000)
        yield age
        yield duration


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """GET /metrics: Prometheus text format, computed from the database at each request."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatsCollector())
    try:
        body = generate_latest(registry)
    except DatabaseError as exc:
        return HttpResponse(
            f"# database unreachable: {type(exc).__name__}\n",
            status=503,
            content_type="text/plain; charset=utf-8",
        )
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


# --- Cron ----------------------------------------------------------------------------------------


@csrf_exempt  # called by a scheduler with a bearer secret, never by a browser session
@require_POST
@never_cache
def cron_update_stats(request: HttpRequest) -> JsonResponse:
    """POST /api/cron/update-stats: make a view refresh due now (bearer CRON_SECRET)."""
    secret = settings.CRON_SECRET
    if not secret:
        return _error("CRON_SECRET is not set; the cron endpoint is disabled", 503)
    presented = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
    # Constant time: how much of a guess matched must not show in the answer's timing.
    if not hmac.compare_digest(presented, f"Bearer {secret}".encode()):
        return _error("Unauthorized", 401)
    refresh = request_stats_refresh_now()
    logger.info("cron refresh request: %s, job %d", refresh.status, refresh.job_id)
    return JsonResponse(
        {
            "status": refresh.status,
            "job_id": refresh.job_id,
            "timestamp": timezone.now().isoformat(),
        }
    )

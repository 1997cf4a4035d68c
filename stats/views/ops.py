"""The operators' doors: health for load balancers and people, metrics for Prometheus."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from stats import monitoring, replica
from stats.http import allow_methods
from stats.middleware import RETRY_AFTER_SECONDS
from stats.views.params import presents_bearer, unauthorized_response

# --- Operations --------------------------------------------------------------------------------


def _seconds(age: float | None) -> float | None:
    return None if age is None else round(age, 3)


def _replica_health() -> dict[str, object]:
    """The replica's part of /health, when one is configured. A replica that lags or is down
    costs speed, not the site (reads fall back to the primary): it never makes /health a 503."""
    if not replica.replica_configured():
        return {}
    status = replica.replica_monitor.check()
    return {
        "replica": {
            "serving_reads": status.serving_reads,
            "lag_seconds": _seconds(status.lag_seconds),
            "reason": status.reason,
        }
    }


class RecentHealth:
    """The public answer, reused for STATS_HEALTH_CACHE_SECONDS (at most 1 s) in this process:
    however many pollers there are, they cost one check per second and process. One thread
    checks while the others wait for its answer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._report: monitoring.Health | None = None
        self._checked_at = 0.0

    def get(self) -> monitoring.Health:
        max_age = min(float(settings.STATS_HEALTH_CACHE_SECONDS), 1.0)
        with self._lock:
            fresh = time.monotonic() - self._checked_at < max_age
            if self._report is None or not fresh:
                self._report = monitoring.public_health()
                self._checked_at = time.monotonic()
            return self._report

    def reset(self) -> None:
        """Forget the answer (tests)."""
        with self._lock:
            self._report, self._checked_at = None, 0.0


recent_health = RecentHealth()


def _health_response(body: dict[str, object], report: monitoring.Health) -> JsonResponse:
    response = JsonResponse(body, status=200 if report.ok else 503)
    if not report.ok:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


@never_cache
@allow_methods("GET")
def health(request: HttpRequest) -> JsonResponse:
    """GET /health: 200 while the database answers and the pipeline keeps up, else 503.

    Anyone gets the status and its reasons in general terms, from a cheap check reused for up to
    a second; the operators' token (checked first) gets the whole check with its figures.
    """
    if not presents_bearer(request, settings.METRICS_TOKEN):
        # A load balancer needs the code, a visitor the general reason; queue figures, task
        # names and timings are for operators, and so is the cost of computing them.
        public = recent_health.get()
        return _health_response({"status": _status(public), "reasons": public.reasons}, public)
    report = monitoring.health_check(max_queue_age=settings.STATS_HEALTH_MAX_QUEUE_AGE)
    body: dict[str, object] = {
        "status": _status(report),
        "reasons": report.reasons,
        "database": report.database,
        "queue_depth": report.queue_depth,
        "oldest_waiting_job_age_seconds": _seconds(report.oldest_due_job_age),
        "matches_with_stale_points": report.stale_matches,
        "oldest_stale_points_age_seconds": _seconds(report.oldest_stale_age),
        "last_refresh_age_seconds": _seconds(report.last_refresh_age),
        "unrefreshed_points_age_seconds": _seconds(report.unrefreshed_points_age),
        "live_workers": report.live_workers,
        **_replica_health(),
    }
    return _health_response(body, report)


def _status(report: monitoring.Health) -> str:
    return "ok" if report.ok else "unhealthy"


class StatsCollector(Collector):
    """Reads the queue and freshness from the database at each scrape."""

    def collect(self) -> Iterable[Metric]:
        # Queued jobs only: counting every finished job would scan the whole table at each scrape.
        queue = monitoring.queue_report(statuses=monitoring.QUEUED_STATUSES)
        fresh = monitoring.freshness()

        jobs = GaugeMetricFamily(
            "matchday_jobs",
            "Queued Procrastinate jobs (todo, doing) by task and status.",
            labels=["task", "status"],
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
            "matchday_live_workers",
            "Workers whose heartbeat is younger than STATS_STALLED_WORKER_TIMEOUT.",
            value=queue.live_workers,
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
        yield from _replica_metrics()


def _replica_metrics() -> Iterable[Metric]:
    if not replica.replica_configured():
        return
    status = replica.replica_monitor.check()
    yield GaugeMetricFamily(
        "matchday_replica_serving_reads",
        "1 while the streaming replica serves the public reads, 0 while they fall back.",
        value=1.0 if status.serving_reads else 0.0,
    )
    if status.lag_seconds is not None:
        yield GaugeMetricFamily(
            "matchday_replica_lag_seconds",
            "How far the replica's replay trails the primary (absent when it cannot be measured).",
            value=status.lag_seconds,
        )


@never_cache
@allow_methods("GET")
def metrics(request: HttpRequest) -> HttpResponse:
    """GET /metrics: Prometheus text format, computed from the database at each request, for
    callers presenting METRICS_TOKEN; its queries run under a statement timeout."""
    token = settings.METRICS_TOKEN
    if not token:
        return HttpResponse(
            "# METRICS_TOKEN is not set; /metrics is disabled\n",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    if not presents_bearer(request, token):
        return unauthorized_response()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatsCollector())
    try:
        with monitoring.bounded_queries():
            body = generate_latest(registry)
    except DatabaseError as exc:
        return HttpResponse(
            f"# database unreachable: {type(exc).__name__}\n",
            status=503,
            content_type="text/plain; charset=utf-8",
        )
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)

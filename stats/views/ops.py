"""The operators' doors: health for load balancers and people, metrics for Prometheus."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from stats import monitoring

# --- Operations --------------------------------------------------------------------------------


def _seconds(age: float | None) -> float | None:
    return None if age is None else round(age, 3)


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """GET /health: 200 while the database answers and the pipeline keeps up, else 503."""
    report = monitoring.health_check(max_queue_age=settings.STATS_HEALTH_MAX_QUEUE_AGE)
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
            "live_workers": report.live_workers,
        },
        status=200 if report.ok else 503,
    )


class StatsCollector(Collector):
    """Reads the queue and freshness from the database at each scrape."""

    def collect(self) -> Iterable[Metric]:
        queue = monitoring.queue_report()
        fresh = monitoring.freshness()

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

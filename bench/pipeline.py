"""The measurements that need real worker processes (`manage.py procrastinate worker`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.generate import League

PIPELINE_KEYS = (
    "completion_to_points_p50_ms",
    "completion_to_points_p99_ms",
    "queue_overhead_ratio",
    "refreshes_for_burst",
    "worker_jobs_per_s",
)


def not_measured(reason: str) -> dict[str, Any]:
    return {**dict.fromkeys(PIPELINE_KEYS), "pipeline_note": f"not measured: {reason}"}


def pipeline_measure(
    league: League, *, points_ms: float, database: str, say: Callable[[str], None]
) -> dict[str, Any]:
    return not_measured("not implemented yet")

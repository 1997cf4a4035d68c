"""Procrastinate tasks: thin doors that take ids, call one service, and say what they did.

Each task's return value is logged by the worker on its one "ended" line, with the job id and
duration: that line is the job's structured log.
"""

from __future__ import annotations

from typing import Any

from procrastinate.contrib.django import app

from stats import jobs, services
from stats.job_errors import record_job_error
from stats.retry import BackoffRetry

SCORING_RETRY = BackoffRetry(max_attempts=5, base_seconds=2, cap_seconds=300)
REFRESH_RETRY = BackoffRetry(max_attempts=5, base_seconds=5, cap_seconds=300)
# How often the safety net looks; the periodic registry dedupes it across any number of workers.
SWEEP_CRON = "* * * * *"


@app.task(
    name=jobs.CALCULATE_POINTS,
    queue=jobs.STATS_QUEUE,
    retry=SCORING_RETRY,
    task_middleware=[record_job_error],
)
def calculate_points(match_id: int) -> dict[str, Any]:
    """Score every prediction of one settled match (the service queues the batched refresh)."""
    if type(match_id) is not int:  # not even a bool, a float or a numeric string: no coercion
        raise TypeError(f"match_id must be an integer, not {match_id!r}")
    scoring = services.match_score_then_refresh(match_id=match_id)
    return {
        "match_id": match_id,
        "status": scoring.status,
        "predictions_changed": scoring.predictions_changed,
    }


@app.task(
    name=jobs.REFRESH_STATS_VIEWS,
    queue=jobs.STATS_QUEUE,
    retry=REFRESH_RETRY,
    task_middleware=[record_job_error],
)
def refresh_stats_views() -> dict[str, int]:
    """Bring the statistics up to date with the changes logged since the last refresh (totals,
    counts, summaries, then the rank views CONCURRENTLY); the result maps each step to its ms."""
    return {step.name: step.duration_ms for step in services.statistics_refresh()}


@app.periodic(cron=SWEEP_CRON)
@app.task(
    name="stats.tasks.sweep_stale_points",
    queue=jobs.STATS_QUEUE,
    task_middleware=[record_job_error],
)
def sweep_stale_points(timestamp: int) -> dict[str, Any]:
    """Safety nets, once a minute: put back the jobs of workers that stopped beating; queue
    scoring for settled matches whose points are missing or stale, and a refresh when changes
    are logged that no refresh covers.

    Every worker already rescues dead workers' jobs after each of its beats (stats/rescue.py),
    without a job row per check; the sweep does it too, first, so a stalled scoring goes back
    to the queue before the sweep would queue a follow-up for the same match.
    """
    return {"rescued_job_ids": services.stalled_jobs_rescue(), **services.stats_sweep()}


# No longer periodic (the sweep rescues); still registered so that a rescue job queued by a worker
# of the previous release runs at the upgrade instead of failing as an unknown task.
@app.task(name="stats.tasks.rescue_stalled_jobs", queue=jobs.STATS_QUEUE)
def rescue_stalled_jobs(timestamp: int) -> dict[str, list[int]]:
    """Put back in the queue the jobs left running by workers that stopped beating."""
    return {"rescued_job_ids": services.stalled_jobs_rescue()}


@app.periodic(cron="0 * * * *")
@app.task(name="stats.tasks.prune_finished_jobs", queue=jobs.STATS_QUEUE)
async def prune_finished_jobs(timestamp: int) -> dict[str, int]:
    """Delete succeeded and cancelled jobs older than STATS_JOB_RETENTION_HOURS, and failed ones
    (with their recorded errors) older than STATS_FAILED_JOB_RETENTION_DAYS."""
    return await services.finished_jobs_prune()

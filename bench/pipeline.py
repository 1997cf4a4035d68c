"""The measurements that need real worker processes (`manage.py procrastinate worker`).

Workers run as the project runs them (`make worker`: its settings, concurrency and polling), on the
benchmark database (bench/settings.py via DJANGO_SETTINGS_MODULE), one at a time:
- the first measures the no-op job rate and, one completion at a time, the delay from the commit
  of a completed match to its points being visible; its refresh delay is long, so no refresh runs
  meanwhile;
- the second counts the refreshes a burst of 100 completions triggers, with a refresh delay
  longer than the burst takes to score, as STATS_REFRESH_DELAY is meant to be.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.db import connection
from procrastinate.contrib.django import app
from procrastinate.contrib.django.models import ProcrastinateJob

from bench.generate import GOALS, League
from bench.measure import elapsed_ms, percentile, rounded
from stats.models import Match
from stats.processes import processes_stop, worker_start
from stats.refresh import stats_refresh
from stats.relations import OVERALL
from stats.scoring import PointTiers

Say = Callable[[str], None]

PIPELINE_KEYS = (
    "completion_to_points_p50_ms",
    "completion_to_points_p99_ms",
    "queue_overhead_ratio",
    "refreshes_for_burst",
    "worker_jobs_per_s",
)
CALCULATE_POINTS = "stats.tasks.calculate_points"
REFRESH_STATS_VIEWS = "stats.tasks.refresh_stats_views"
NOOP = "bench.tasks.noop"
COMPLETIONS = 20
# Corrections timed from commit to the overall board (each costs a scoring and a refresh).
BOARD_COMPLETIONS = 5
BURST = 100
NOOP_JOBS = 500
# Long enough that no refresh runs while completion latencies are measured.
QUIET_REFRESH_DELAY_S = 3600
# How often the benchmark looks for the points; each look is a query, competing for the CPU.
POLL_S = 0.005


def not_measured(reason: str) -> dict[str, Any]:
    return {**dict.fromkeys(PIPELINE_KEYS), "pipeline_note": f"not measured: {reason}"}


def pipeline_missing() -> str | None:
    """Why the pipeline cannot be measured (no stats.tasks yet), or None when it can."""
    try:
        from stats import tasks
    except ImportError as exc:
        return f"stats.tasks cannot be imported ({exc})"
    missing = [
        name for name in ("calculate_points", "refresh_stats_views") if not hasattr(tasks, name)
    ]
    if missing:
        return f"stats.tasks has no {', '.join(missing)} yet"
    return None


def pipeline_measure(
    league: League, *, points_ms: float, database: str, say: Say
) -> dict[str, Any]:
    """Every worker-based figure; see the module docstring."""
    reason = pipeline_missing()
    if reason:
        say(f"  skipped: {reason}")
        return not_measured(reason)
    log_dir = Path(tempfile.mkdtemp(prefix="matchday-bench-"))
    results: dict[str, Any] = {}
    first_log = log_dir / "worker-1.log"
    with worker_running(database, QUIET_REFRESH_DELAY_S, first_log, say):
        results.update(worker_throughput_measure(say))
        results.update(completion_to_points_measure(league, points_ms=points_ms, say=say))
    # The worker logs how long each job ran: the rest of the delay is the queue's.
    in_worker = jobs_lasted_ms(first_log, results.pop("completion_job_ids"))
    if in_worker:
        results["completion_job_lasted_p50_ms"] = rounded(percentile(in_worker, 50))
    waiting_refreshes_cancel()
    stats_refresh()  # the burst starts from fresh views, as after any refresh
    # Scoring a burst takes about BURST x points_ms (less with the worker's concurrency); the
    # delay leaves it room four times over, for a busy machine, so that the whole burst is
    # scored inside one refresh delay, as STATS_REFRESH_DELAY is meant to be chosen.
    delay_s = max(15, math.ceil(4 * BURST * points_ms / 1000) + 10)
    with worker_running(database, delay_s, log_dir / "worker-2.log", say):
        results.update(refreshes_for_burst_measure(league, delay_s=delay_s, say=say))
    with worker_running(database, 0, log_dir / "worker-3.log", say):
        boards = completion_to_boards_measure(league, say=say)
        results.setdefault("samples", {}).update(boards.pop("samples"))
        results.update(boards)
    results["pipeline_note"] = (
        f"real `manage.py procrastinate worker` processes with the project's settings; "
        f"worker logs in {log_dir}"
    )
    return results


@contextlib.contextmanager
def worker_running(
    database: str, refresh_delay_s: int, log_path: Path, say: Say
) -> Iterator[subprocess.Popen[bytes]]:
    """A worker on the benchmark database, ready (it has run a job) when the block starts."""
    environment = {
        # Another settings module (one that imports bench.settings) tries a change to the
        # workers' configuration without touching the project.
        "DJANGO_SETTINGS_MODULE": os.environ.get("BENCH_WORKER_SETTINGS") or "bench.settings",
        "BENCH_DATABASE": database,
        "STATS_REFRESH_DELAY": str(refresh_delay_s),
        "LOG_LEVEL": "INFO",
    }
    started = time.perf_counter()
    worker = worker_start(env=environment, log=log_path)
    try:
        (probe,) = app.tasks[NOOP].batch_defer({})
        _wait_until(lambda: _finished([probe]), worker, log_path, timeout_s=120)
        say(
            f"  worker {worker.pid} ready in {time.perf_counter() - started:.1f} s "
            f"(refresh delay {refresh_delay_s} s)"
        )
        yield worker
    finally:
        processes_stop([worker], timeout=60)  # graceful first: it finishes its current jobs


def _finished(job_ids: list[int]) -> bool:
    return not ProcrastinateJob.objects.filter(
        id__in=job_ids, status__in=("todo", "doing")
    ).exists()


def _wait_until(
    condition: Callable[[], bool],
    worker: subprocess.Popen[bytes],
    log_path: Path,
    *,
    timeout_s: float,
    poll_s: float = POLL_S,
) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited with {worker.returncode}; see {log_path}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the worker did not get there in {timeout_s:.0f} s; see {log_path}")
        time.sleep(poll_s)


def worker_throughput_measure(say: Say) -> dict[str, Any]:
    """worker_jobs_per_s: NOOP_JOBS no-op jobs queued at once, and the time the worker takes."""
    job_ids = app.tasks[NOOP].batch_defer(*({} for _ in range(NOOP_JOBS)))
    started = time.perf_counter()
    while not _finished(job_ids):
        time.sleep(0.01)
    seconds = time.perf_counter() - started
    say(f"  {NOOP_JOBS} no-op jobs in {seconds:.2f} s: {NOOP_JOBS / seconds:.0f} jobs/s")
    return {"worker_jobs_per_s": round(NOOP_JOBS / seconds, 1), "worker_noop_jobs": NOOP_JOBS}


def _result_save(match_id: int, rng: random.Random) -> None:
    """Save a match as completed with a new result, as an admin or a feed would: Match.save()
    queues its scoring in the same transaction."""
    match = Match.objects.get(pk=match_id)
    if match.status == Match.Status.COMPLETED:  # a correction: one more home goal
        assert match.home_score is not None
        match.home_score += 1
    else:
        match.status = Match.Status.COMPLETED
        match.home_score, match.away_score = rng.choice(GOALS), rng.choice(GOALS)
    match.save()


def _points_visible(match_id: int) -> bool:
    # Plain SQL, not the ORM: this runs every POLL_S on a 2-core machine, beside the worker.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT points_calculated_at >= completed_at FROM stats_match WHERE id = %s",
            [match_id],
        )
        row = cursor.fetchone()
    return bool(row and row[0])


# A user whose board total must change with a correction (one more home goal): their points for
# the match differ under the new result. Their points over completed matches are an index range.
_WATCHED_USER_SQL = """
SELECT user_id FROM stats_prediction AS p JOIN stats_match AS m ON m.id = p.match_id
WHERE p.match_id = %(match_id)s AND p.points IS DISTINCT FROM stats_prediction_points(
    p.home_score, p.away_score, m.home_score + 1, m.away_score,
    %(exact)s, %(goal_difference)s, %(outcome)s
)
LIMIT 1
"""
_BOARD_SHOWS_POINTS_SQL = """
SELECT m.points_calculated_at >= m.completed_at AND board.total_points = (
    SELECT sum(p.points) FROM stats_prediction AS p JOIN stats_match AS played
        ON played.id = p.match_id AND played.status = 'completed'
    WHERE p.user_id = %(user_id)s
)
FROM stats_match AS m, {board} AS board
WHERE m.id = %(match_id)s AND board.user_id = %(user_id)s
"""


def completion_to_boards_measure(league: League, *, say: Say) -> dict[str, Any]:
    """From the commit of a corrected result to the overall board showing it (scoring, then a
    refresh with no delay), one correction at a time, watching a user whose total changes."""
    rng = random.Random(13)
    tiers = PointTiers.from_settings()
    latencies: list[float] = []
    # Matches from the middle of the season: the other measurements correct the first and the
    # last ones, again and again, until no prediction's points change any more.
    middle = len(league.scored_match_ids) // 2
    for match_id in league.scored_match_ids[middle : middle + BOARD_COMPLETIONS]:
        with connection.cursor() as cursor:
            cursor.execute(
                _WATCHED_USER_SQL,
                {
                    "match_id": match_id,
                    "exact": tiers.exact,
                    "goal_difference": tiers.goal_difference,
                    "outcome": tiers.outcome,
                },
            )
            row = cursor.fetchone()
        if row is None:
            continue
        time.sleep(0.5)  # one by one: the worker is idle at each commit
        _result_save(match_id, rng)
        committed = time.perf_counter()
        while True:
            with connection.cursor() as cursor:
                cursor.execute(
                    _BOARD_SHOWS_POINTS_SQL.format(board=OVERALL.totals.name),
                    {"match_id": match_id, "user_id": row[0]},
                )
                shown = cursor.fetchone()
            if shown and shown[0]:
                break
            time.sleep(POLL_S)
        latencies.append(elapsed_ms(committed))
    p50 = percentile(latencies, 50)
    say(f"  {len(latencies)} corrections: commit to the overall board p50 {p50:,.0f} ms")
    return {
        "completion_to_boards_p50_ms": rounded(p50),
        "completion_to_boards_max_ms": rounded(max(latencies)),
        "completion_to_boards_note": "a corrected result saved with Match.save(), one worker with "
        "STATS_REFRESH_DELAY=0: its scoring job, then the refresh job, until the overall board "
        "shows the new total of a user who had predicted the old result exactly",
        "samples": {"completion_to_boards_ms": [rounded(x) for x in latencies]},
    }


def completion_to_points_measure(league: League, *, points_ms: float, say: Say) -> dict[str, Any]:
    """From the commit of a completed match to its points being visible, one completion at a
    time, on matches never scored (the same work as points_ms)."""
    rng = random.Random(11)
    fresh = list(league.scheduled_match_ids[:COMPLETIONS])
    # A small league has fewer scheduled matches: corrections of completed ones make up the rest.
    corrections = list(league.scored_match_ids[: COMPLETIONS - len(fresh)])
    first_job_id = _last_job_id()
    latencies: list[float] = []
    for match_id in fresh + corrections:
        time.sleep(0.2)  # completions arrive one by one: the worker is idle at each commit
        _result_save(match_id, rng)
        committed = time.perf_counter()
        while not _points_visible(match_id):
            time.sleep(POLL_S)
        latencies.append(elapsed_ms(committed))
    job_ids = list(
        ProcrastinateJob.objects.filter(
            id__gt=first_job_id, task_name=CALCULATE_POINTS
        ).values_list("id", flat=True)
    )
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    say(
        f"  {len(latencies)} completions: commit to visible points p50 {p50:.1f} ms, "
        f"p99 {p99:.1f} ms (points_ms {points_ms:.1f} ms)"
    )
    results: dict[str, Any] = {
        "completion_to_points_p50_ms": rounded(p50),
        "completion_to_points_p99_ms": rounded(p99),
        "queue_overhead_ratio": round(p50 / points_ms, 3),
        "completions": len(latencies),
        "completion_job_ids": job_ids,
        "samples": {"completion_to_points_ms": [rounded(x) for x in latencies]},
    }
    if corrections:
        results["completions_note"] = (
            f"{len(fresh)} first completions and {len(corrections)} corrected results "
            "(the league has too few scheduled matches)"
        )
    return results


def _sweep_would_queue_refresh() -> bool | None:
    """Whether the safety-net sweep would queue a refresh now (None: the project has no such
    check)."""
    from stats import refresh

    return refresh.stats_behind_writes()


def _last_job_id() -> int:
    return ProcrastinateJob.objects.order_by("-id").values_list("id", flat=True).first() or 0


def jobs_lasted_ms(log_path: Path, job_ids: list[int]) -> list[float]:
    """How long the worker says each of these jobs ran, from its "ended ... lasted" log lines."""
    wanted = set(job_ids)
    lasted = []
    ended = re.compile(r"\[(\d+)\]\(.*\) ended with status: \w+, lasted ([0-9.]+) s")
    for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        found = ended.search(line)
        if found and int(found.group(1)) in wanted:
            lasted.append(float(found.group(2)) * 1000)
    return lasted


def waiting_refreshes_cancel() -> None:
    for job_id in ProcrastinateJob.objects.filter(
        task_name=REFRESH_STATS_VIEWS, status="todo"
    ).values_list("id", flat=True):
        app.job_manager.cancel_job_by_id(job_id, delete_job=True)


def refreshes_for_burst_measure(league: League, *, delay_s: int, say: Say) -> dict[str, Any]:
    """refreshes_for_burst: BURST completions committed one after another inside one refresh
    delay, then the refresh jobs run once the worker is quiet again."""
    rng = random.Random(13)
    first_job_id = _last_job_id()
    completed = [*league.scored_match_ids, *league.reserved_match_ids, *league.scheduled_match_ids]
    burst = [completed[index % len(completed)] for index in range(BURST)]
    started = time.perf_counter()
    for match_id in burst:
        _result_save(match_id, rng)
    committed_s = time.perf_counter() - started
    say(f"  {BURST} completions committed in {committed_s:.1f} s (refresh delay {delay_s} s)")

    jobs = ProcrastinateJob.objects.filter(id__gt=first_job_id)
    deadline = time.monotonic() + delay_s + BURST * 5 + 300
    scored_s = None
    while True:
        scoring = jobs.filter(task_name=CALCULATE_POINTS, status__in=("todo", "doing")).exists()
        if scored_s is None and not scoring:
            scored_s = time.perf_counter() - started
        refreshing = jobs.filter(task_name=REFRESH_STATS_VIEWS, status__in=("todo", "doing"))
        refreshed = jobs.filter(task_name=REFRESH_STATS_VIEWS, status="succeeded").exists()
        if refreshed and not scoring and not refreshing.exists():
            break
        if time.monotonic() > deadline:
            raise TimeoutError("the burst's scorings and refresh did not finish")
        time.sleep(0.2)
    settled_s = time.perf_counter() - started
    ran = jobs.filter(task_name=REFRESH_STATS_VIEWS).exclude(status="cancelled").count()
    # The periodic safety net queues a refresh when it finds the views behind the points; asked
    # now, its answer says whether its next tick (at most a minute away) costs one more.
    sweep_requeues = _sweep_would_queue_refresh()
    refreshes = ran + int(bool(sweep_requeues))
    scorings = jobs.filter(task_name=CALCULATE_POINTS).count()
    failed = jobs.filter(status="failed").count()
    say(
        f"  {scorings} scoring jobs, {ran} refresh(es) ran, the sweep would queue "
        f"{int(bool(sweep_requeues))} more, {failed} failed; "
        f"all settled {settled_s:.1f} s after the first commit"
    )
    return {
        "refreshes_for_burst": refreshes,
        "burst": {
            "completions": BURST,
            "distinct_matches": len(set(burst)),
            "committed_in_s": round(committed_s, 2),
            "refresh_delay_s": delay_s,
            "scoring_jobs": scorings,
            "refreshes_ran": ran,
            "sweep_would_queue_another_refresh": sweep_requeues,
            "failed_jobs": failed,
            "scored_after_s": None if scored_s is None else round(scored_s, 1),
            "settled_after_s": round(settled_s, 1),
            # A refresh due before the last scoring ended is a second one by design, not a fault.
            "scored_inside_delay": scored_s is not None and scored_s < delay_s,
        },
    }

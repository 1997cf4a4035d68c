"""The load run: `python -m bench.loadtest` (`make loadtest`), not part of `make test`.

Three real workers score a few hundred results saved over a minute (first results, then
corrections) while a small thread-pool client on loopback reads the API of a real web server
(`manage.py runserver`, DEBUG off), bounded in requests and in time. Then it waits for the queue
to drain and checks, from scratch, that every prediction's points equal the Python reference and
every view row equals its definition run now. It reports jobs processed, 5xx answers, read
latency percentiles during refreshes and outside them, and exits non-zero on any loss, any
duplicate run, any wrong number or any 5xx.

The league comes from the benchmark's generator, at the benchmark's default scale, in a
dedicated database (default `matchday_load`, dropped and recreated) on the configured server:
development data is never touched.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import django_setup

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE = "matchday_load"


@dataclass(frozen=True)
class Reading:
    started: float  # epoch seconds, to compare with the database's event times
    seconds: float
    path: str
    status: int  # 0: no answer (refused, reset, timed out)


def _arguments() -> argparse.Namespace:
    from bench.run import DEFAULT_MATCHES, DEFAULT_USERS

    parser = argparse.ArgumentParser(prog="python -m bench.loadtest", description=__doc__)
    parser.add_argument("--users", type=int, default=DEFAULT_USERS, help="default %(default)s")
    parser.add_argument("--matches", type=int, default=DEFAULT_MATCHES, help="default %(default)s")
    parser.add_argument(
        "--completions", type=int, default=300, help="results saved (default %(default)s)"
    )
    parser.add_argument(
        "--duration", type=float, default=60.0, help="seconds to spread them over (default 60)"
    )
    parser.add_argument("--workers", type=int, default=3, help="worker processes (default 3)")
    parser.add_argument("--readers", type=int, default=4, help="concurrent API readers (default 4)")
    parser.add_argument(
        "--max-reads", type=int, default=20_000, help="bound on API requests (default 20000)"
    )
    parser.add_argument(
        "--refresh-delay",
        type=int,
        default=5,
        help="STATS_REFRESH_DELAY of the workers, seconds (default 5)",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=300.0,
        help="seconds to wait for the queue to drain after the last result (default 300)",
    )
    parser.add_argument("--seed", type=int, default=20250101, help="generator seed")
    parser.add_argument(
        "--database",
        default=os.environ.get("LOADTEST_DATABASE") or DEFAULT_DATABASE,
        help="the load database, dropped and recreated (default %(default)s)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    return parser.parse_args()


def main() -> None:
    arguments = _arguments()
    # One key for every process of the run (DEBUG is off in bench.settings: no development key).
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    django_setup(arguments.database)

    from bench.console import Progress

    progress = Progress()
    report = run(arguments, progress)
    print(report_table(report))
    if arguments.json:
        arguments.json.write_text(json.dumps(report, indent=2) + "\n")
        progress.say(f"figures written to {arguments.json}")
    problems = report["problems"]
    if problems:
        for problem in problems:
            progress.warn(problem)
        sys.exit(1)
    progress.say("load run passed: no loss, no duplicate, no wrong number, no 5xx")


def run(arguments: argparse.Namespace, progress: Any) -> dict[str, Any]:
    from bench.database import database_recreate
    from bench.generate import Scale, league_generate

    say = progress.say
    scale = Scale(arguments.users, arguments.matches)
    database = database_recreate()
    say(f"database {database} recreated and migrated")
    scheduled = max(1, min(arguments.matches // 2, arguments.completions, arguments.matches - 1))
    league = league_generate(scale, reserved=0, scheduled=scheduled, seed=arguments.seed, say=say)
    log_dir = Path(
        os.environ.get("LOADTEST_LOG_DIR") or tempfile.mkdtemp(prefix="matchday-loadtest-")
    )
    log_dir.mkdir(parents=True, exist_ok=True)
    environment = {"STATS_REFRESH_DELAY": str(arguments.refresh_delay), "LOG_LEVEL": "INFO"}
    with _web_and_workers(arguments.workers, environment, log_dir) as port:
        say(f"web server on 127.0.0.1:{port} and {arguments.workers} workers; logs in {log_dir}")

        stop = threading.Event()
        readings: list[Reading] = []
        reader_paths = _reader_paths(league, random.Random(arguments.seed))
        budget = _Budget(arguments.max_reads)
        with ThreadPoolExecutor(arguments.readers) as pool:
            for _ in range(arguments.readers):
                pool.submit(_read_until_stopped, port, reader_paths, stop, budget, readings)
            started = time.time()
            saved = _save_results(league, arguments, say)
            say(
                f"{arguments.completions} results saved ({len(saved)} matches) in "
                f"{time.time() - started:.1f} s; draining"
            )
            drained_in = _wait_for_drain(arguments.drain_timeout, say)
            stop.set()
        finished = time.time()
        say(f"queue drained {drained_in:.1f} s after the last result; checking from scratch")
        return _report(arguments, scale, league, saved, readings, started, finished, drained_in)


# --- Writes: results and corrections --------------------------------------------------------


def _save_results(
    league: Any, arguments: argparse.Namespace, say: Any
) -> dict[int, tuple[int, int]]:
    """Save `completions` results evenly over `duration` through Match.save() (each queues its
    scoring in its transaction): first each scheduled match, then corrections of completed ones.
    Returns the last result saved for each match."""
    from stats.models import Match

    rng = random.Random(arguments.seed + 1)
    completed = list(league.scored_match_ids)
    queue = list(league.scheduled_match_ids)
    saved: dict[int, tuple[int, int]] = {}
    started = time.monotonic()
    for index in range(arguments.completions):
        time.sleep(
            max(
                0.0, started + index * arguments.duration / arguments.completions - time.monotonic()
            )
        )
        match_id = queue.pop(0) if queue else rng.choice(completed)
        match = Match.objects.get(pk=match_id)
        result = (rng.choice((0, 1, 1, 2, 2, 3)), rng.choice((0, 0, 1, 1, 2, 3)))
        while (match.home_score, match.away_score) == result:
            result = (result[0] + 1, result[1])
        match.status = Match.Status.COMPLETED
        match.home_score, match.away_score = result
        match.save()
        saved[match_id] = result
        if match_id not in completed:
            completed.append(match_id)
        if (index + 1) % 50 == 0:
            say(f"  {index + 1} / {arguments.completions} results saved")
    return saved


def _wait_for_drain(timeout: float, say: Any) -> float:
    """Wait until no scoring or refresh job waits or runs (the delayed refresh included)."""
    from procrastinate.contrib.django.models import ProcrastinateJob

    from stats import jobs

    started = time.monotonic()
    last_said = started
    while True:
        pending = ProcrastinateJob.objects.filter(
            task_name__in=(jobs.CALCULATE_POINTS, jobs.REFRESH_STATS_VIEWS),
            status__in=("todo", "doing"),
        ).count()
        if not pending:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise TimeoutError(
                f"{pending} job(s) still queued {timeout:.0f} s after the last result"
            )
        if time.monotonic() - last_said > 10:
            say(f"  {pending} job(s) still queued")
            last_said = time.monotonic()
        time.sleep(0.5)


# --- Reads -----------------------------------------------------------------------------------


class _Budget:
    """How many requests may still be made, shared by the readers."""

    def __init__(self, requests: int) -> None:
        self.left = requests
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            self.left -= 1
            return self.left >= 0


def _reader_paths(league: Any, rng: random.Random) -> list[str]:
    """A fixed mix: boards (mostly the first pages) and users' stats."""
    first_user, last_user = league.user_ids
    paths = []
    for _ in range(500):
        page = rng.randint(1, 5) if rng.random() < 0.8 else rng.randint(6, 200)
        competition = rng.choice([None, *league.competition_slugs])
        board = f"/api/leaderboard?page={page}&page_size=50"
        paths.append(board if competition is None else f"{board}&competition={competition}")
        paths.append(f"/api/users/{rng.randint(first_user, last_user)}/stats")
    return paths


def _read_until_stopped(
    port: int, paths: list[str], stop: threading.Event, budget: _Budget, readings: list[Reading]
) -> None:
    rng = random.Random()
    while not stop.is_set() and budget.take():
        path = rng.choice(paths)
        started, clock = time.time(), time.perf_counter()
        status = 0
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            status = response.status
            conn.close()
        except OSError:
            pass
        readings.append(Reading(started, time.perf_counter() - clock, path, status))


# --- The check and the report ------------------------------------------------------------------


def _refresh_windows() -> list[tuple[float, float]]:
    """(start, end) in epoch seconds of every run of the refresh job."""
    from django.db import connection

    from stats import jobs

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT extract(epoch FROM started.at), extract(epoch FROM min(ended.at))
            FROM procrastinate_jobs AS j
            JOIN procrastinate_events AS started
                ON started.job_id = j.id AND started.type = 'started'
            JOIN procrastinate_events AS ended ON ended.job_id = j.id AND ended.at >= started.at
                AND ended.type IN ('succeeded', 'failed', 'deferred_for_retry')
            WHERE j.task_name = %s
            GROUP BY j.id, started.id, started.at
            ORDER BY started.at
            """,
            [jobs.REFRESH_STATS_VIEWS],
        )
        return [(float(start), float(end)) for start, end in cursor.fetchall()]


def _audit() -> tuple[int, int, dict[str, dict[str, int]]]:
    """Predictions checked and wrong against the Python reference, and for each statistics
    relation its rows and the rows by which it differs from a recomputation (stats/audit.py)."""
    from stats.audit import stats_audit, wrong_points

    points = wrong_points()
    relations = {
        audit.relation: {"rows": audit.rows, "differences": audit.differences}
        for audit in stats_audit(show=0)
    }
    return points.checked, len(points.wrong), relations


def _percentiles(seconds: list[float]) -> dict[str, float | int | None]:
    if not seconds:
        return {"count": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(seconds)
    cuts = (
        statistics.quantiles(ordered, n=100, method="inclusive")
        if len(ordered) > 1
        else ordered * 99
    )
    return {
        "count": len(ordered),
        "p50_ms": round(cuts[49] * 1000, 1),
        "p95_ms": round(cuts[94] * 1000, 1),
        "p99_ms": round(cuts[98] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def _report(
    arguments: argparse.Namespace,
    scale: Any,
    league: Any,
    saved: dict[int, tuple[int, int]],
    readings: list[Reading],
    started: float,
    finished: float,
    drained_in: float,
) -> dict[str, Any]:
    from django.db.models import Count, F, Q
    from procrastinate.contrib.django.models import ProcrastinateJob

    from stats import jobs
    from stats.audit import overlapping_job_runs
    from stats.models import Match

    windows = _refresh_windows()

    def during_refresh(reading: Reading) -> bool:
        end = reading.started + reading.seconds
        return any(start < end and reading.started < stop for start, stop in windows)

    answered = [r for r in readings if r.status]
    by_status = {
        str(status): count for status, count in sorted(Counter(r.status for r in readings).items())
    }
    jobs_by_status = {
        f"{task.rsplit('.', 1)[-1]}:{status}": count
        for task, status, count in ProcrastinateJob.objects.filter(
            task_name__in=(jobs.CALCULATE_POINTS, jobs.REFRESH_STATS_VIEWS)
        )
        .values_list("task_name", "status")
        .annotate(count=Count("id"))
        .values_list("task_name", "status", "count")
        .order_by("task_name", "status")
    }
    results_kept = sum(
        Match.objects.filter(pk=match_id, home_score=home, away_score=away).exists()
        for match_id, (home, away) in saved.items()
    )
    stale = (
        Match.objects.filter(pk__in=saved)
        .filter(
            Q(points_calculated_at__isnull=True) | Q(points_calculated_at__lt=F("completed_at"))
        )
        .count()
    )
    checked, wrong, views = _audit()
    overlaps = {
        "scoring": overlapping_job_runs(task_name=jobs.CALCULATE_POINTS),
        "refresh": overlapping_job_runs(task_name=jobs.REFRESH_STATS_VIEWS),
    }
    server_errors = sum(1 for r in readings if r.status >= 500)
    unanswered = len(readings) - len(answered)
    failed_jobs = sum(count for key, count in jobs_by_status.items() if key.endswith(":failed"))

    problems = []
    if results_kept != len(saved):
        problems.append(f"{len(saved) - results_kept} saved result(s) lost")
    if stale:
        problems.append(f"{stale} match(es) with missing or stale points")
    if wrong:
        problems.append(f"{wrong} prediction(s) with wrong points")
    if any(view["differences"] for view in views.values()):
        problems.append(f"views differ from a recomputation: {views}")
    if any(overlaps.values()):
        problems.append(f"overlapping runs (a duplicate applied at once): {overlaps}")
    if failed_jobs:
        problems.append(f"{failed_jobs} job(s) failed")
    if server_errors or unanswered:
        problems.append(f"{server_errors} 5xx answer(s), {unanswered} request(s) unanswered")

    return {
        "scale": {"users": scale.users, "matches": scale.matches, "predictions": scale.predictions},
        "workers": arguments.workers,
        "readers": arguments.readers,
        "refresh_delay_s": arguments.refresh_delay,
        "results_saved": arguments.completions,
        "matches_changed": len(saved),
        "saving_s": round(finished - started - drained_in, 1),
        "drain_s": round(drained_in, 1),
        "jobs": jobs_by_status,
        "refresh_runs": len(windows),
        "refresh_run_s": [round(end - start, 1) for start, end in windows],
        "reads": len(readings),
        "reads_by_status": by_status,
        "server_errors": server_errors,
        "unanswered": unanswered,
        "read_latency_during_refresh": _percentiles(
            [r.seconds for r in answered if during_refresh(r)]
        ),
        "read_latency_outside_refresh": _percentiles(
            [r.seconds for r in answered if not during_refresh(r)]
        ),
        "predictions_checked": checked,
        "wrong_points": wrong,
        "results_kept": results_kept,
        "stale_matches": stale,
        "overlapping_runs": overlaps,
        "views": views,
        "problems": problems,
        "competitions": list(league.competition_slugs),
    }


def report_table(report: dict[str, Any]) -> str:
    scale = report["scale"]
    during, outside = report["read_latency_during_refresh"], report["read_latency_outside_refresh"]

    def latency(figures: dict[str, Any]) -> str:
        return (
            f"{figures['count']} reads: p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms, "
            f"p99 {figures['p99_ms']} ms, max {figures['max_ms']} ms"
        )

    rows = [
        ("scale", f"{scale['users']:,} users x {scale['matches']} matches = "
         f"{scale['predictions']:,} predictions"),
        ("workers / readers", f"{report['workers']} workers, {report['readers']} readers"),
        ("results saved", f"{report['results_saved']} over {report['saving_s']} s "
         f"({report['matches_changed']} matches)"),
        ("queue drained", f"{report['drain_s']} s after the last result"),
        ("jobs", ", ".join(f"{key} {count}" for key, count in report["jobs"].items())),
        ("refresh runs", f"{report['refresh_runs']} ({report['refresh_run_s']} s)"),
        ("reads", f"{report['reads']} ({report['reads_by_status']})"),
        ("5xx / unanswered", f"{report['server_errors']} / {report['unanswered']}"),
        ("latency during refresh", latency(during)),
        ("latency outside refresh", latency(outside)),
        ("points checked", f"{report['predictions_checked']:,}, wrong {report['wrong_points']}"),
        ("results kept", f"{report['results_kept']} of {report['matches_changed']}, "
         f"stale {report['stale_matches']}"),
        ("overlapping runs", str(report["overlapping_runs"])),
        ("views", ", ".join(f"{name} {view['rows']:,} rows, {view['differences']} differ"
                            for name, view in report["views"].items())),
    ]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"  {name:<{width}}  {value}" for name, value in rows)


# --- Processes ---------------------------------------------------------------------------------


@contextmanager
def _web_and_workers(workers: int, environment: dict[str, str], log_dir: Path) -> Iterator[int]:
    """A web server on a free port of 127.0.0.1 (yielded) and `workers` workers, each ready,
    stopped at the end."""
    from stats.processes import (
        WorkerPool,
        free_port,
        port_accepts,
        processes_stop,
        wait_until,
        web_start,
    )

    port = free_port()
    web = web_start(port, env=environment, log=log_dir / "web.log")
    pool = WorkerPool(log_dir, environment)
    try:
        wait_until(lambda: port_accepts(port), timeout=60, what="the web server", poll=0.2)
        pool.start(workers, timeout=60)
        yield port
    finally:
        pool.stop_all(timeout=60)
        processes_stop([web], timeout=60)


if __name__ == "__main__":
    main()

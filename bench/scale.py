"""`make bench-scale`: the work after one result, and the reads, at growing numbers of players.

    python -m bench.scale [--players 20000,200000,1000000] [--matches 40]

For each number of players, a league of `--matches` matches (two competitions, rounds of 10)
where every player predicts every match, the predictions stored in the order a real league
receives them (over the days before each kickoff, all matches interleaved: see
bench/generate.py, `predictions_by_arrival`), generated set-based in its own database
(`matchday_bench_scale`), measured, then dropped. Measured at each scale:

- `points_ms` (the scoring service on a completed, never-scored match) against
  `points_raw_sql_ms` (the bare UPDATE of the same points with no trigger firing), alternated;
- `refresh_after_result_ms` (a scored match's result corrected and re-scored, then the refresh),
  each step, and `materialized_views_refresh_ms` (the steps refreshing materialized views);
- `after_result_vs_raw` = (points_ms + refresh_after_result_ms) / points_raw_sql_ms;
- `completion_to_boards_p50_ms` (a real worker, STATS_REFRESH_DELAY=0: commit of a corrected
  result to the overall board showing it);
- read p50/p99 through the API (Django's test client): page 1 of the overall board, the page at
  position 500,000 (or the last page), one player's stats;
- the physical layout of predictions: how many heap pages one match's rows lie on, and (up to
  `--cluster-max-players`) the same bare UPDATE before and after `CLUSTER` by match.

Writes results/scale.json (and a dated copy), and draws results/scale.png.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import django_setup
from bench.console import Progress

DEFAULT_PLAYERS = "20000,200000,1000000"
REPETITIONS = 3
READS = 200
PAGE_SIZE = 50
DEEP_POSITION = 500_000


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--players", default=DEFAULT_PLAYERS, help="default %(default)s")
    parser.add_argument("--matches", type=int, default=40)
    parser.add_argument("--repetitions", type=int, default=REPETITIONS)
    parser.add_argument("--reads", type=int, default=READS, help="reads of each kind")
    parser.add_argument(
        "--cluster-max-players",
        type=int,
        default=200_000,
        help="CLUSTER the predictions and measure again up to this many players",
    )
    parser.add_argument("--no-pipeline", action="store_true", help="no worker-based figure")
    parser.add_argument("--keep", action="store_true", help="leave the last database in place")
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument("--database", default="matchday_bench_scale")
    parser.add_argument("--name", default="scale", help="results/<name>.json (default scale)")
    parser.add_argument(
        "--append",
        action="store_true",
        help="keep the runs already in results/<name>.json (other scales, measured before)",
    )
    parser.add_argument(
        "--board-corrections",
        type=int,
        default=5,
        help="corrections timed from commit to boards (default 5)",
    )
    return parser.parse_args()


def main() -> None:
    arguments = _arguments()
    django_setup(arguments.database)
    from bench.database import server_description
    from bench.report import RESULTS_DIR, results_write

    progress = Progress()
    from bench.run import _git_commit

    arguments.git_commit = _git_commit()  # the code this process runs, whenever a scale ends
    runs: list[dict[str, Any]] = []
    existing = RESULTS_DIR / f"{arguments.name}.json"
    if arguments.append and existing.exists():
        runs = json.loads(existing.read_text(encoding="utf-8"))["runs"]
    for players in (int(text) for text in arguments.players.split(",")):
        runs = [run for run in runs if run["scale"]["users"] != players]

        def save(partial: dict[str, Any], done: list[dict[str, Any]] = runs) -> None:
            """Write what is measured so far (a run cut short still leaves its figures); the
            database exists by the first call."""
            ordered = sorted([*done, partial], key=lambda done_run: done_run["scale"]["users"])
            results_write(_report(ordered, arguments, server_description()), name=arguments.name)

        runs.append(scale_measure(players, arguments, progress, save))
        runs.sort(key=lambda run: run["scale"]["users"])
        results_write(_report(runs, arguments, server_description()), name=arguments.name)
        if not arguments.keep:
            _database_drop(arguments.database)
    from bench.plot import scale_plot

    path = scale_plot(runs, RESULTS_DIR / f"{arguments.name}.png")
    print()
    print(scale_table(runs))
    print()
    progress.say(f"written {RESULTS_DIR / arguments.name}.json and {path.name}")


def _report(
    runs: list[dict[str, Any]], arguments: argparse.Namespace, machine: dict[str, Any]
) -> dict[str, Any]:

    return {
        "runs": runs,
        "command": f"python -m bench.scale --players {arguments.players} "
        f"--matches {arguments.matches} --repetitions {arguments.repetitions}"
        + (" --append" if arguments.append else ""),
        "git_commit": arguments.git_commit,
        "machine": machine,
        "targets": {
            "after_result_vs_raw": "<= 2.5 at every scale",
            "points_vs_raw_sql": "<= 2.0 at every scale",
            "read_p99_ms": "<= 20 at any depth",
        },
    }


def _database_drop(name: str) -> None:
    from django.db import connections
    from psycopg import sql

    from bench.database import _maintenance_connection

    connections.close_all()
    with _maintenance_connection() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def scale_measure(
    players: int,
    arguments: argparse.Namespace,
    progress: Progress,
    save: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    from bench.database import database_recreate
    from bench.generate import Scale, league_generate
    from bench.report import after_result_vs_raw

    say = progress.say
    started = time.perf_counter()
    database_recreate()
    reserved = 2 * arguments.repetitions
    league = league_generate(
        Scale(players, arguments.matches),
        reserved=reserved,
        scheduled=0,
        seed=arguments.seed,
        say=say,
        layout="arrival",
    )
    result: dict[str, Any] = {
        "scale": {
            "users": players,
            "matches": arguments.matches,
            "predictions": players * arguments.matches,
        },
        "generate_s": round(time.perf_counter() - started, 1),
    }
    say(f"generated in {result['generate_s']:,.0f} s; sizes {_sizes()}")
    result["sizes_mb"] = _sizes()
    result["layout"] = layout_measure(league.scored_match_ids[0])
    say(f"layout: {result['layout']}")
    result["complete"] = False
    save(result)
    result.update(scoring_measure(league, say=say))
    save(result)
    result.update(refresh_measure(league, repetitions=arguments.repetitions, say=say))
    result["after_result_vs_raw"] = after_result_vs_raw(result)
    save(result)
    result.update(reads_measure(league, reads=arguments.reads, say=say))
    save(result)
    if not arguments.no_pipeline:
        result.update(boards_measure(league, arguments, say=say))
        save(result)
    if players <= arguments.cluster_max_players:
        result["layout"].update(cluster_measure(league, say=say))
    result["total_s"] = round(time.perf_counter() - started, 1)
    result["git_commit"] = arguments.git_commit
    result["repetitions"] = arguments.repetitions
    result["complete"] = True
    result["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    say(
        f"{players:,} players: points {result['points_ms']:,.0f} ms (bare UPDATE "
        f"{result['points_raw_sql_ms']:,.0f}), refresh {result['refresh_after_result_ms']:,.0f} "
        f"ms, after_result_vs_raw {result['after_result_vs_raw']}"
    )
    return result


def _sizes() -> dict[str, float]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_table_size('stats_prediction'), pg_indexes_size('stats_prediction'),"
            " pg_database_size(current_database())"
        )
        table, indexes, database = cursor.fetchone()
    return {
        "predictions_table": round(table / 2**20, 1),
        "predictions_indexes": round(indexes / 2**20, 1),
        "database": round(database / 2**20, 1),
    }


# --- Scoring ----------------------------------------------------------------------------------


def scoring_measure(league: Any, *, say: Any) -> dict[str, Any]:
    """The service and the bare UPDATE on never-scored matches, alternating which goes first."""
    from bench.measure import (
        _raw_scoring,
        median,
        raw_scorings_hand_over,
        raw_sql_note,
        rounded,
        timed_ms,
    )
    from stats.services import match_score_predictions

    reserved = list(league.reserved_match_ids)
    service_matches, raw_matches = reserved[0::2], reserved[1::2]
    service_ms: list[float] = []
    raw_ms: list[float] = []
    for index, (service_match, raw_match) in enumerate(
        zip(service_matches, raw_matches, strict=False)
    ):
        pair = [
            (service_ms, lambda m=service_match: match_score_predictions(match_id=m)),
            (raw_ms, lambda m=raw_match: _raw_scoring(m)),
        ]
        for samples, action in pair if index % 2 == 0 else reversed(pair):
            samples.append(timed_ms(action))
        say(f"  scoring {index + 1}: service {service_ms[-1]:,.0f} ms, bare {raw_ms[-1]:,.0f} ms")
    raw_scorings_hand_over(raw_matches)
    points, raw = median(service_ms), median(raw_ms)
    return {
        "points_ms": rounded(points),
        "points_raw_sql_ms": rounded(raw),
        "points_vs_raw_sql": round(points / raw, 3),
        "points_raw_sql_note": raw_sql_note(),
        "samples": {
            "points_ms": [rounded(x) for x in service_ms],
            "points_raw_sql_ms": [rounded(x) for x in raw_ms],
        },
    }


def refresh_measure(league: Any, *, repetitions: int, say: Any) -> dict[str, Any]:
    """The refresh after one corrected result, step by step (no rebuild at these scales)."""
    from bench.measure import median, result_correct, rounded
    from bench.relations import materialized_view_names, stats_refresh, steps_ms

    say("  catching the statistics up with the scorings above")
    stats_refresh()
    runs: list[dict[str, float]] = []
    for index in range(repetitions):
        match_id = league.scored_match_ids[index % len(league.scored_match_ids)]
        result_correct(match_id)
        started = time.perf_counter()
        steps = stats_refresh()
        runs.append({"total": (time.perf_counter() - started) * 1000, **steps_ms(steps)})
        say(f"  refresh after a result {index + 1}/{repetitions}: {runs[-1]['total']:,.0f} ms")
    by_step = {
        name: rounded(median([run.get(name, 0.0) for run in runs]))
        for name in runs[0]
        if name != "total"
    }
    views = materialized_view_names()
    return {
        "refresh_after_result_ms": rounded(median([run["total"] for run in runs])),
        "refresh_by_step_ms": by_step,
        "materialized_views_refresh_ms": rounded(
            sum(ms for name, ms in by_step.items() if name in views)
        ),
        "materialized_views": views,
        "refresh_samples_ms": [rounded(run["total"]) for run in runs],
    }


# --- Reads ------------------------------------------------------------------------------------


def reads_measure(league: Any, *, reads: int, say: Any) -> dict[str, Any]:
    """p50/p99 of page 1, the page at position DEEP_POSITION (or the last), a player's stats."""
    from django.test import Client

    from bench.measure import percentile, rounded

    client = Client()
    players = league.scale.users
    last_page = max(1, -(-players // PAGE_SIZE))
    deep_page = min(last_page, DEEP_POSITION // PAGE_SIZE + 1)
    rng = random.Random(5)
    kinds: dict[str, Callable[[], str]] = {
        "page_1": lambda: f"/api/leaderboard?page=1&page_size={PAGE_SIZE}",
        "deep_page": lambda: f"/api/leaderboard?page={deep_page}&page_size={PAGE_SIZE}",
        "player_stats": lambda: f"/api/users/{rng.randint(*league.user_ids)}/stats",
    }
    samples: dict[str, list[float]] = {kind: [] for kind in kinds}
    for _ in range(10):  # warm-up
        for url in kinds.values():
            client.get(url())
    for _ in range(reads):
        for kind, url in kinds.items():
            target = url()
            began = time.perf_counter()
            response = client.get(target)
            samples[kind].append((time.perf_counter() - began) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"GET {target} answered {response.status_code}")
    figures = {
        kind: {
            "p50_ms": rounded(percentile(values, 50)),
            "p99_ms": rounded(percentile(values, 99)),
            "max_ms": rounded(max(values)),
        }
        for kind, values in samples.items()
    }
    say(f"  reads: {figures}")
    return {
        "reads_ms": figures,
        "deep_page": {"page": deep_page, "first_position": (deep_page - 1) * PAGE_SIZE + 1},
        "read_p99_ms_max": max(figure["p99_ms"] for figure in figures.values()),
    }


# --- The pipeline -----------------------------------------------------------------------------


def boards_measure(league: Any, arguments: argparse.Namespace, *, say: Any) -> dict[str, Any]:
    from bench import pipeline

    pipeline.BOARD_COMPLETIONS = arguments.board_corrections
    log = Path(tempfile.mkdtemp(prefix="matchday-bench-scale-")) / "worker.log"
    with pipeline.worker_running(arguments.database, 0, log, say):
        boards = pipeline.completion_to_boards_measure(league, say=say)
    boards["completion_to_boards_samples_ms"] = boards.pop("samples")["completion_to_boards_ms"]
    return boards


# --- The physical layout of predictions --------------------------------------------------------

# The scoring's write, bare and rolled back: the same rows each time, whatever the layout.
_BARE_UPDATE_SQL = """
UPDATE stats_prediction SET points = CASE
    WHEN home_score = 9 AND away_score = 9 THEN 3 WHEN home_score > away_score THEN 1 ELSE 0 END
WHERE match_id = %s
"""


def layout_measure(match_id: int) -> dict[str, Any]:
    """How one match's predictions lie on the table's pages, and what PostgreSQL's statistics
    say of the order (match_id's correlation with the physical order, -1 to 1)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(DISTINCT (ctid::text::point)[0])"
            " FROM stats_prediction WHERE match_id = %s",
            [match_id],
        )
        rows, pages = cursor.fetchone()
        cursor.execute("SELECT relpages FROM pg_class WHERE relname = 'stats_prediction'")
        (table_pages,) = cursor.fetchone()
        cursor.execute(
            "SELECT correlation FROM pg_stats"
            " WHERE tablename = 'stats_prediction' AND attname = 'match_id'"
        )
        row = cursor.fetchone()
    return {
        "match_rows": rows,
        "match_heap_pages": pages,
        "table_heap_pages": table_pages,
        "match_pages_share_of_table": round(pages / max(1, table_pages), 4),
        "rows_per_page_of_match": round(rows / max(1, pages), 2),
        "match_id_correlation": None if row is None else round(float(row[0]), 4),
    }


def _bare_update_ms(match_ids: list[int]) -> list[float]:
    from django.db import connection, transaction

    from bench.measure import _is_superuser

    samples = []
    for match_id in match_ids:
        with connection.cursor() as cursor:
            cursor.execute(
                "CHECKPOINT"
            )  # each write starts from clean pages, as after a quiet spell
        began = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            if _is_superuser():
                cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute(_BARE_UPDATE_SQL, [match_id])
            samples.append((time.perf_counter() - began) * 1000)
            transaction.set_rollback(True)
    return samples


def cluster_measure(league: Any, *, say: Any) -> dict[str, Any]:
    """The same bare UPDATEs (rolled back) on the arrival layout, then after CLUSTER by match."""
    from django.db import connection

    from bench.measure import rounded

    matches = list(league.scored_match_ids[1:4])
    before = _bare_update_ms(matches)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'stats_prediction'"
            " AND indexdef LIKE '%%(match_id)' AND indexdef NOT LIKE '%%WHERE%%'"
        )
        (index,) = cursor.fetchone()
        began = time.perf_counter()
        cursor.execute(f'CLUSTER stats_prediction USING "{index}"')
        cluster_s = time.perf_counter() - began
        cursor.execute("VACUUM (ANALYZE) stats_prediction")
    after_layout = layout_measure(matches[0])
    after = _bare_update_ms(matches)
    say(
        f"  CLUSTER by match in {cluster_s:,.0f} s: bare UPDATE {statistics.median(before):,.0f}"
        f" -> {statistics.median(after):,.0f} ms; one match on {after_layout['match_heap_pages']:,}"
        " pages"
    )
    return {
        "bare_update_ms_arrival_order": rounded(statistics.median(before)),
        "bare_update_ms_clustered_by_match": rounded(statistics.median(after)),
        "clustered_vs_arrival": round(statistics.median(after) / statistics.median(before), 3),
        "cluster_s": round(cluster_s, 1),
        "clustered": after_layout,
        "cluster_note": "one match's bare UPDATE (no trigger, rolled back, after a CHECKPOINT) "
        "on three scored matches, with the predictions in arrival order and then after CLUSTER "
        "stats_prediction USING its match_id index",
    }


# --- The table --------------------------------------------------------------------------------


def scale_table(runs: list[dict[str, Any]]) -> str:
    def get(run: dict[str, Any], *path: str) -> Any:
        value: Any = run
        for key in path:
            value = (value or {}).get(key)
        return value

    columns = [
        ("players", ("scale", "users"), "{:,}"),
        ("points ms", ("points_ms",), "{:,.0f}"),
        ("bare UPDATE ms", ("points_raw_sql_ms",), "{:,.0f}"),
        ("points / bare", ("points_vs_raw_sql",), "{:.2f}"),
        ("refresh ms", ("refresh_after_result_ms",), "{:,.0f}"),
        ("views ms", ("materialized_views_refresh_ms",), "{:,.0f}"),
        ("after result / bare", ("after_result_vs_raw",), "{:.2f}"),
        ("to boards p50 ms", ("completion_to_boards_p50_ms",), "{:,.0f}"),
        ("page 1 p50/p99", ("reads_ms", "page_1"), "pair"),
        ("deep page p50/p99", ("reads_ms", "deep_page"), "pair"),
        ("stats p50/p99", ("reads_ms", "player_stats"), "pair"),
    ]
    lines = [
        "| " + " | ".join(name for name, _, _ in columns) + " |",
        "|" + "---:|" * len(columns),
    ]
    for run in runs:
        cells = []
        for _, path, style in columns:
            value = get(run, *path)
            if value is None:
                cells.append("-")
            elif style == "pair":
                cells.append(f"{value['p50_ms']:.1f} / {value['p99_ms']:.1f}")
            else:
                cells.append(style.format(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()

"""The benchmark runner: `python -m bench [--users U] [--matches M] [--sweep] ...`.

One run recreates the benchmark database, generates a league, measures, checks the targets,
prints the table and writes bench/results/latest.json (and a dated copy). `--sweep` does that
at three scales, writes sweep-<U>x<M>.json for each and sweep.json for all (latest.json is left
alone), and draws bench/results/scaling.png.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import django_setup
from bench.console import Progress

DEFAULT_USERS = 20_000
DEFAULT_MATCHES = 100
DEFAULT_SWEEP = "5000x40,20000x100,50000x200"
DEFAULT_SEASON_GROWTH = "20000x95"
# Completed matches left unscored for the scoring benchmarks: a pair (service, raw UPDATE) per
# repetition, the naive ORM's matches, and one per round (at most 2) scored first, untimed.
NAIVE_REPETITIONS = 3
# Scheduled matches the pipeline benchmarks complete, each a first scoring like points_ms.
PIPELINE_COMPLETIONS = 20
# Above this many predictions in a match, the naive ORM loop runs on the first this-many only.
NAIVE_LIMIT = 20_000


def _scale(text: str) -> tuple[int, int]:
    users, _, matches = text.lower().partition("x")
    try:
        return int(users), int(matches)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not USERSxMATCHES, e.g. 5000x40") from None


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--users", type=int, default=DEFAULT_USERS, help="default %(default)s")
    parser.add_argument("--matches", type=int, default=DEFAULT_MATCHES, help="default %(default)s")
    parser.add_argument("--seed", type=int, default=20250101, help="generator seed")
    parser.add_argument(
        "--repetitions", type=int, default=7, help="repetitions of the scoring timings (default 7)"
    )
    parser.add_argument(
        "--refresh-repetitions",
        type=int,
        default=5,
        help="repetitions of the refresh after a result and of the full rebuild (default 5)",
    )
    parser.add_argument(
        "--idle-reads", type=int, default=400, help="reads timed while idle (default 400)"
    )
    parser.add_argument(
        "--refreshes-during-reads",
        type=int,
        default=3,
        help="refreshes to time reads against (default 3)",
    )
    parser.add_argument(
        "--no-pipeline", action="store_true", help="skip the measurements that need a worker"
    )
    parser.add_argument(
        "--no-group-boards",
        action="store_true",
        help="skip the group boards (5,000 and 100,000 members, bench/group_boards.py)",
    )
    parser.add_argument(
        "--group-players",
        type=int,
        default=200_000,
        help="players of the group boards' league (default %(default)s)",
    )
    parser.add_argument(
        "--group-reads",
        type=int,
        default=20,
        help="reads of each group page measured (5 pages per group; default %(default)s)",
    )
    parser.add_argument(
        "--no-put-predictions",
        action="store_true",
        help="skip PUT predictions against the 404 floor on gunicorn (bench/put_predictions.py)",
    )
    parser.add_argument(
        "--put-seconds",
        type=float,
        default=10.0,
        help="seconds of 404s, then of PUTs (default %(default)s)",
    )
    parser.add_argument(
        "--sweep",
        nargs="?",
        const=DEFAULT_SWEEP,
        metavar="UxM,UxM,UxM",
        help=f"run at three scales and draw scaling.png (default {DEFAULT_SWEEP})",
    )
    parser.add_argument(
        "--season-growth",
        nargs="?",
        const=DEFAULT_SEASON_GROWTH,
        metavar="UxM",
        help="only the refresh and the rebuild, at M and at 4 x M matches (a quarter of a "
        f"season, then all of it); adds refresh_growth_4x_season to latest.json "
        f"(default {DEFAULT_SEASON_GROWTH})",
    )
    parser.add_argument(
        "--database",
        default=os.environ.get("BENCH_DATABASE") or "matchday_bench",
        help="the benchmark database, dropped and recreated (default %(default)s)",
    )
    return parser.parse_args()


def main() -> None:
    arguments = _arguments()
    django_setup(arguments.database)

    from bench.generate import Scale

    progress = Progress()
    if arguments.season_growth:
        season_growth(Scale(*_scale(arguments.season_growth)), arguments, progress)
    elif arguments.sweep:
        scales = [Scale(*_scale(text)) for text in arguments.sweep.split(",")]
        sweep = [
            run_at_scale(scale, arguments, progress, name=f"sweep-{scale.users}x{scale.matches}")
            for scale in scales
        ]
        from bench.plot import sweep_plot
        from bench.report import RESULTS_DIR, results_write

        results_write({"runs": sweep}, name="sweep")
        path = sweep_plot(sweep, RESULTS_DIR / "scaling.png")
        progress.say(f"sweep of {len(sweep)} scales drawn in {path}")
    else:
        run_at_scale(
            Scale(arguments.users, arguments.matches), arguments, progress, players_sections=True
        )


def run_at_scale(
    scale: Any,
    arguments: argparse.Namespace,
    progress: Progress,
    *,
    name: str = "latest",
    players_sections: bool = False,
) -> dict[str, Any]:
    """Recreate the database, generate, measure, check; write `<name>.json` and a dated copy.
    `players_sections`: then the players' benchmarks too (group boards, PUT predictions), each
    in a database of its own, unless skipped."""
    from bench import measure, pipeline
    from bench.database import database_recreate, server_description
    from bench.generate import league_generate
    from bench.replica import replica_reads_measure
    from bench.report import after_result_vs_raw, results_write, targets_check, targets_table

    started = time.perf_counter()
    say = progress.say
    repetitions = arguments.repetitions
    database = database_recreate()
    say(f"database {database} recreated and migrated")
    reserved = 2 * repetitions + NAIVE_REPETITIONS + 2
    scheduled = max(0, min(PIPELINE_COMPLETIONS, scale.matches - reserved - 4))
    league = league_generate(
        scale, reserved=reserved, scheduled=scheduled, seed=arguments.seed, say=say
    )
    generated_s = time.perf_counter() - started

    say("scoring one match: the service, the raw UPDATE, the naive ORM loop")
    scoring = measure.scoring_measure(
        league,
        repetitions=repetitions,
        naive_repetitions=NAIVE_REPETITIONS,
        naive_limit=NAIVE_LIMIT,
        say=say,
    )
    say("refreshing the views after one match's points changed")
    refresh = measure.refresh_measure(league, repetitions=arguments.refresh_repetitions, say=say)
    say("reads: idle, then during refreshes")
    reads = measure.reads_measure(
        league,
        idle_reads=arguments.idle_reads,
        refresh_repetitions=arguments.refreshes_during_reads,
        say=say,
    )
    say("reads again, from a streaming replica of the same server, during refreshes")
    reads_replica = replica_reads_measure(
        lambda: measure.reads_measure(
            league,
            idle_reads=arguments.idle_reads,
            refresh_repetitions=arguments.refreshes_during_reads,
            say=say,
        ),
        say,
    )
    if arguments.no_pipeline:
        queued: dict[str, Any] = pipeline.not_measured("skipped (--no-pipeline)")
    else:
        say("the pipeline: real worker processes")
        queued = pipeline.pipeline_measure(
            league, points_ms=scoring["points_ms"], database=database, say=say
        )

    players = players_measure(arguments, database, say) if players_sections else {}

    samples = {**scoring.pop("samples"), **refresh.pop("samples"), **queued.pop("samples", {})}
    results: dict[str, Any] = {
        "scale": {
            "users": scale.users,
            "matches": scale.matches,
            "predictions": scale.predictions,
        },
        **scoring,
        **refresh,
        **reads,
        **reads_replica,
        **queued,
        **players,
        "repetitions": {
            "scoring": repetitions,
            "naive_orm": NAIVE_REPETITIONS,
            "refresh": arguments.refresh_repetitions,
        },
        "samples": samples,
        "generate_s": round(generated_s, 1),
        "total_s": round(time.perf_counter() - started, 1),
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "machine": server_description(),
        "seed": arguments.seed,
    }
    results["after_result_vs_raw"] = after_result_vs_raw(results)
    results["targets"] = targets_check(results)
    paths = results_write(results, name=name)
    print(f"\n{scale}:\n")
    print(targets_table(results["targets"]))
    print()
    say(f"written {paths[0]} and {paths[1].name}; {results['total_s']:.0f} s in all")
    return results


def players_measure(
    arguments: argparse.Namespace, database: str, say: Callable[[str], None]
) -> dict[str, Any]:
    """The players' benchmarks (issue 22), each in its own database (`<database>_groups`,
    `<database>_put`), dropped after: group board reads at 5,000 and 100,000 members, and PUT
    predictions against the 404 floor of the same gunicorn."""
    from bench.database import database_drop, database_recreate
    from bench.group_boards import group_boards_measure
    from bench.put_predictions import put_predictions_measure

    figures: dict[str, Any] = {}
    if arguments.no_group_boards:
        figures["group_boards"] = {"note": "skipped (--no-group-boards)"}
    else:
        say(f"group boards: {arguments.group_players:,} players, groups of 5,000 and 100,000")
        _use_database(f"{database}_groups")
        database_recreate()
        try:
            figures["group_boards"] = group_boards_measure(
                players=arguments.group_players,
                reads=arguments.group_reads,
                seed=arguments.seed,
                say=say,
            )
        finally:
            database_drop()
    if arguments.no_put_predictions:
        figures["put_predictions"] = {"note": "skipped (--no-put-predictions)"}
    else:
        say("PUT predictions over HTTP against the 404 floor")
        _use_database(f"{database}_put")
        put_database = database_recreate()
        try:
            figures["put_predictions"] = put_predictions_measure(
                players=200,
                matches=50,
                seconds=arguments.put_seconds,
                concurrency=8,
                web_workers=2,
                database=put_database,
                say=say,
            )
        finally:
            database_drop()
    _use_database(database)
    return figures


def season_growth(quarter: Any, arguments: argparse.Namespace, progress: Progress) -> None:
    """The refresh after one result a quarter into a season and on the whole season (same users,
    4 x the matches): the cost rule says it must not grow with the matches already played.

    Both leagues are generated first, each in its own database, then measured in turn,
    repetition by repetition, so that the shared machine's load weighs on both alike.
    """
    from bench import measure
    from bench.database import database_recreate, server_description
    from bench.generate import Scale, league_generate
    from bench.report import RESULTS_DIR, results_write

    leagues = {}
    for scale, suffix in (
        (quarter, "quarter"),
        (Scale(quarter.users, 4 * quarter.matches), "season"),
    ):
        _use_database(f"{arguments.database}_{suffix}")
        database_recreate()
        started = time.perf_counter()
        leagues[suffix] = league_generate(
            scale, reserved=2, scheduled=0, seed=arguments.seed, say=progress.say
        )
        progress.say(f"generated in {time.perf_counter() - started:.0f} s")
    measured: dict[str, list[dict[str, Any]]] = {suffix: [] for suffix in leagues}
    for index in range(arguments.refresh_repetitions):
        for suffix, league in leagues.items():
            _use_database(f"{arguments.database}_{suffix}")
            progress.say(f"{league.scale}:")
            measured[suffix].append(
                measure.refresh_measure(league, repetitions=1, first=index, say=progress.say)
            )
    runs: dict[int, dict[str, Any]] = {}
    for suffix, league in leagues.items():
        refresh = measure.median([run["refresh_after_result_ms"] for run in measured[suffix]])
        rebuild = measure.median([run["full_rebuild_ms"] for run in measured[suffix]])
        runs[league.scale.matches] = {
            "scale": {
                "users": league.scale.users,
                "matches": league.scale.matches,
                "predictions": league.scale.predictions,
            },
            "refresh_after_result_ms": measure.rounded(refresh),
            "full_rebuild_ms": measure.rounded(rebuild),
            "refresh_vs_full_rebuild": round(refresh / rebuild, 3),
            "runs": measured[suffix],
        }
    small, large = (runs[matches] for matches in sorted(runs))
    # Each repetition corrects the same match in both leagues, so the growth is read pair by
    # pair: the median of the pairs' ratios. The ratio of the two medians may pair a slow
    # sample of one league with a fast one of the other (it once read 0.76 where the pairs'
    # median was 1.31).
    pairs = [
        round(season["refresh_after_result_ms"] / quarter_run["refresh_after_result_ms"], 3)
        for quarter_run, season in zip(small["runs"], large["runs"], strict=True)
    ]
    growth = round(measure.median(pairs), 3)
    figures = {
        "refresh_growth_4x_season": growth,
        "refresh_growth_pairs": pairs,
        "refresh_growth_by_medians": round(
            large["refresh_after_result_ms"] / small["refresh_after_result_ms"], 3
        ),
        "full_season": {
            key: large[key]
            for key in (
                "scale",
                "refresh_after_result_ms",
                "full_rebuild_ms",
                "refresh_vs_full_rebuild",
            )
        },
        "season_growth_runs": list(runs.values()),
        "season_growth_machine": server_description(),
        "season_growth_command": (
            f"python -m bench --season-growth {quarter.users}x{quarter.matches}"
        ),
    }
    results_write(figures, name="growth")
    latest = RESULTS_DIR / "latest.json"
    if latest.exists():  # the default run's file carries these figures too
        results = json.loads(latest.read_text(encoding="utf-8"))
        results.update(figures)
        from bench.report import targets_check

        results["targets"] = targets_check(results)
        latest.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    progress.say(
        f"refresh after one result: {small['refresh_after_result_ms']:,.0f} ms at "
        f"{small['scale']['matches']} matches, {large['refresh_after_result_ms']:,.0f} ms at "
        f"{large['scale']['matches']} by medians; x{growth} by pairs {pairs}; full season "
        f"refresh_vs_full_rebuild "
        f"{large['refresh_vs_full_rebuild']}"
    )


def _use_database(name: str) -> None:
    from django.conf import settings
    from django.db import connection, connections

    connections.close_all()
    settings.DATABASES["default"]["NAME"] = name
    connection.settings_dict["NAME"] = name


def _git_commit() -> str | None:
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return completed.stdout.strip()

"""Where a recount beats a refresh by difference: `python -m bench.crossover`.

One league (recreated in its own database); for each number of results k, k completed matches'
results are corrected and re-scored, then the same pending log is brought up to date three
ways, each in a transaction rolled back afterwards so that every way starts from the same
state: by difference (forced), the path the refresh chooses (stats.refresh, the
STATS_RECOUNT_* settings), and a recount (the rebuild). Writes results/crossover.json.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from bench import django_setup
from bench.console import Progress

DEFAULT_RESULTS = "1,4,8,16,32"


class _RolledBack(Exception):
    pass


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.crossover", description=__doc__)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--matches", type=int, default=100)
    parser.add_argument("--results", default=DEFAULT_RESULTS, help="default %(default)s")
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument(
        "--database",
        default=os.environ.get("BENCH_DATABASE") or "matchday_bench_crossover",
        help="dropped and recreated (default %(default)s)",
    )
    return parser.parse_args()


def main() -> None:
    arguments = _arguments()
    django_setup(arguments.database)

    from django.db import connection, transaction
    from django.db.models import F
    from django.utils import timezone

    from bench.database import database_recreate, server_description
    from bench.generate import Scale, league_generate
    from bench.report import results_write
    from stats import refresh
    from stats.models import Match
    from stats.services import match_score_predictions

    say = Progress().say
    database_recreate()
    scale = Scale(arguments.users, arguments.matches)
    league = league_generate(scale, reserved=2, scheduled=0, seed=arguments.seed, say=say)
    refresh.stats_refresh()

    def bring_up_to_date(results: int, how: str) -> tuple[float, str, int]:
        """ms, the path taken, the log's rows: after `results` corrections, rolled back."""
        measured: tuple[float, str, int] = (0.0, "", 0)
        try:
            with transaction.atomic():
                for match_id in league.scored_match_ids[:results]:
                    Match.objects.filter(pk=match_id).update(
                        home_score=F("home_score") + 1, completed_at=timezone.now()
                    )
                    match_score_predictions(match_id=match_id)
                with connection.cursor() as cursor:
                    cursor.execute("SELECT count(*) FROM stats_prediction_change")
                    logged = int(cursor.fetchone()[0])
                started = time.perf_counter()
                if how == "chosen":
                    steps = refresh.stats_refresh()
                else:
                    steps = refresh._run_locked(
                        lambda cursor: refresh._bring_up_to_date(
                            cursor, everything=how == "recount"
                        )
                    )
                measured = ((time.perf_counter() - started) * 1000, steps[0].name, logged)
                raise _RolledBack
        except _RolledBack:
            pass
        return measured

    runs: list[dict[str, Any]] = []
    for results in (int(text) for text in arguments.results.split(",")):
        run: dict[str, Any] = {"results": results}
        for how in ("by_difference", "chosen", "recount"):
            ms, path, logged = bring_up_to_date(results, how)
            run[f"{how}_ms"] = round(ms)
            run["logged_prediction_changes"] = logged
            if how == "chosen":
                run["chosen_path"] = path
        say(
            f"{results} results ({run['logged_prediction_changes']:,} changes logged): by "
            f"difference {run['by_difference_ms']:,} ms, recount {run['recount_ms']:,} ms, "
            f"chosen {run['chosen_path']!r} {run['chosen_ms']:,} ms"
        )
        runs.append(run)
    results_write(
        {
            "scale": {
                "users": scale.users,
                "matches": scale.matches,
                "predictions": scale.predictions,
            },
            "runs": runs,
            "load_average": os.getloadavg(),
            "machine": server_description(),
        },
        name="crossover",
    )


if __name__ == "__main__":
    main()

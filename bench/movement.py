"""What movement (previous_rank on the league's boards) costs the refresh:
`python -m bench.movement [--players N]`.

A league of N players (default 200,000), every player predicting every match: a first
competition with rounds 1 and 2, a second with round 1, two matches a round. Results arrive one
by one, each scored and refreshed as the workers would (stats_refresh), along every path of the
latest round: the first result of a round, a second result in the latest round, the overall
board's latest round moving to the other competition and back, a correction of an older round
(its competition's latest round stays: the highest; the overall board's moves back to it). For
each refresh it prints the whole refresh's time and the movement's share (the latest rounds,
the previous counts, the previous rank views), and at the end reads board pages with
previous_rank and without (the same query, NULL in its place) and checks every relation
against its recomputation. Its own database, recreated each run (BENCH_DATABASE, default
matchday_bench_movement).
"""

from __future__ import annotations

import argparse
import os
import time

import django

# (label, match index, home, away): matches 0, 1 are the first competition's round 1, 2, 3 its
# round 2, 4, 5 the second competition's round 1.
STEPS = [
    ("first result of the league (round 1)", 0, 1, 0),
    ("second result in the latest round", 1, 2, 2),
    ("overall board moves to the other competition", 4, 0, 1),
    ("first result of a new round (round 2)", 2, 1, 1),
    ("second result in the latest round", 3, 0, 0),
    ("correction of an older round (round 2 stays the latest)", 0, 2, 0),
    ("second result of the other competition", 5, 3, 1),
]


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=int, default=200_000)
    parser.add_argument("--reads", type=int, default=100, help="reads of each page measured")
    return parser.parse_args()


def _league(players: int) -> list[int]:
    """N players, six scheduled matches, every player predicting each; the match ids."""
    from django.db import connection

    from bench.generate import players_and_two_competitions

    with connection.cursor() as cursor:
        players_and_two_competitions(cursor, players)
        cursor.execute(
            "INSERT INTO stats_team (name) SELECT 'Team ' || g FROM generate_series(1, 2) AS g"
        )
        cursor.execute(
            "INSERT INTO stats_match (competition_id, round, home_team_id, away_team_id,"
            " kickoff_at, status)"
            " SELECT c.id, r.round,"
            "        (SELECT min(id) FROM stats_team), (SELECT max(id) FROM stats_team),"
            "        now() + interval '1 day', 'scheduled'"
            " FROM (VALUES ('premier', 1), ('premier', 1), ('premier', 2), ('premier', 2),"
            "              ('cup', 1), ('cup', 1)) AS r (slug, round)"
            " JOIN stats_competition AS c ON c.slug = r.slug"
            " ORDER BY r.slug DESC, r.round"
        )
        cursor.execute("SELECT id FROM stats_match ORDER BY id")
        match_ids = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT setseed(0.22)")
        cursor.execute(
            "INSERT INTO stats_prediction (user_id, match_id, home_score, away_score,"
            " created_at, updated_at)"
            " SELECT u.id, m.id, floor(random() * 4)::int, floor(random() * 4)::int, now(), now()"
            " FROM auth_user AS u CROSS JOIN stats_match AS m"
        )
        cursor.execute("ANALYZE")
    return match_ids


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _reads(players: int, reads: int) -> None:
    """Pages of the overall and a competition's board (first, middle, last) read R times each,
    with previous_rank and without it (the same query with NULL in its place), interleaved."""
    import dataclasses

    from stats.models import Competition
    from stats.relations import COMPETITION, OVERALL
    from stats.selectors import Board, leaderboard_page

    premier = Competition.objects.get(slug="premier")
    boards = {
        "with previous_rank": [Board(OVERALL), Board(COMPETITION, premier)],
        "without": [
            Board(dataclasses.replace(OVERALL, movement=None)),
            Board(dataclasses.replace(COMPETITION, movement=None), premier),
        ],
    }
    samples: dict[str, list[float]] = {kind: [] for kind in boards}
    last = -(-players // 25)
    for _ in range(reads):
        for page in (1, last // 2, last):
            for kind, kind_boards in boards.items():
                for board in kind_boards:
                    begun = time.perf_counter()
                    leaderboard_page(board=board, page=page, page_size=25)
                    samples[kind].append((time.perf_counter() - begun) * 1000)
    for kind, measured in samples.items():
        print(
            f"board pages {kind:18}: p50 {_percentile(measured, 0.5):.2f} ms, "
            f"p99 {_percentile(measured, 0.99):.2f} ms over {len(measured):,} reads",
            flush=True,
        )


def main() -> None:
    arguments = _arguments()
    os.environ.setdefault("BENCH_DATABASE", "matchday_bench_movement")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    django.setup()
    from django.db import connection

    from bench.database import database_recreate
    from stats.audit import stats_differences
    from stats.refresh import stats_refresh
    from stats.relations import LATEST_ROUNDS, MOVING_GRAINS
    from stats.services import match_score_predictions

    movement = {LATEST_ROUNDS.name} | {
        relation.name
        for grain in MOVING_GRAINS
        if grain.movement is not None
        for relation in (grain.movement.counts, grain.movement.ranks)
    }
    name = database_recreate()
    print(f"database {name}: {arguments.players:,} players, 6 matches", flush=True)
    started = time.perf_counter()
    match_ids = _league(arguments.players)
    stats_refresh()  # the predictions' summaries: nothing scored yet
    print(f"league built in {time.perf_counter() - started:.1f} s", flush=True)
    for label, index, home, away in STEPS:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE stats_match SET status = 'completed', home_score = %s, away_score = %s,"
                " completed_at = clock_timestamp() WHERE id = %s",
                [home, away, match_ids[index]],
            )
        match_score_predictions(match_id=match_ids[index])
        begun = time.perf_counter()
        steps = stats_refresh()
        total = (time.perf_counter() - begun) * 1000
        moving = sum(step.duration_ms for step in steps if step.name in movement)
        detail = ", ".join(
            f"{step.name} {step.duration_ms}" for step in steps if step.name in movement
        )
        print(
            f"{label:48} refresh {total:7.0f} ms, movement {moving:6d} ms "
            f"({moving / total:4.0%}): {detail}",
            flush=True,
        )
    _reads(arguments.players, arguments.reads)
    differences = stats_differences()
    print(f"every relation equals its recomputation: {not differences}", flush=True)
    raise SystemExit(1 if differences else 0)


if __name__ == "__main__":
    main()

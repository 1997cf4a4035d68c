"""Group boards at scale: `python -m bench.group_boards [--players N] [--reads R] [...]`.

A league of N players (default 200,000) with totals in two competitions, two groups of 5,000
and 100,000 members drawn from it; each group's board page is read through the API (Django's
test client, every middleware, a signed-in member) at its first, middle and last page, overall
and in a competition: `--ranked-reads` times each ranked at read time (the small groups' path,
default 20: a read of a large group that way takes a second), then, once the group's counts
are built (stats.groups.group_counts_sync, as for a group crossing
STATS_GROUP_COUNTS_MIN_MEMBERS), R times each from its counts. Prints p50/p99 of both paths
per group, in one run, against the targets (5,000 members: p99 <= 20 ms; 100,000: p99 <= 50
ms; the counts path is judged). Its own database (BENCH_DATABASE, default
matchday_bench_groups), recreated each run. `make bench` runs the same measurement as its
`group_boards` section (`group_boards_measure`).
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Callable
from typing import Any

from bench import django_setup

TARGETS_MS = {5_000: 20.0, 100_000: 50.0}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=int, default=200_000)
    parser.add_argument("--reads", type=int, default=200, help="reads per page from counts")
    parser.add_argument(
        "--ranked-reads", type=int, default=20, help="reads per page ranked at read time"
    )
    parser.add_argument("--seed", type=int, default=22)
    return parser.parse_args()


def _league(players: int, seed: int) -> list[int]:
    """N players with totals in two competitions (points like a season's middle: 0-60, exact
    scores about a sixth) and overall; their ids."""
    from django.db import connection

    from bench.generate import players_and_two_competitions

    with connection.cursor() as cursor:
        players_and_two_competitions(cursor, players)
        cursor.execute("SELECT setseed(%s)", [(seed % 1000) / 1000])  # in [0, 1)
        cursor.execute(
            "INSERT INTO stats_competition_total"
            " (competition_id, user_id, total_points, predictions_scored, exact_scores,"
            "  correct_outcomes)"
            " SELECT c.id, u.id, p.points, 20, p.points / 6, p.points / 2"
            " FROM auth_user AS u CROSS JOIN stats_competition AS c"
            " CROSS JOIN LATERAL (SELECT floor(random() * 61)::int + (u.id * 0) AS points) AS p"
        )
        cursor.execute(
            "INSERT INTO stats_user_total (user_id, total_points, predictions_scored,"
            " exact_scores, correct_outcomes)"
            " SELECT user_id, sum(total_points), sum(predictions_scored), sum(exact_scores),"
            " sum(correct_outcomes) FROM stats_competition_total GROUP BY user_id"
        )
        cursor.execute("ANALYZE")
        cursor.execute("SELECT id FROM auth_user ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


def _group(size: int, user_ids: list[int], rng: random.Random) -> tuple[Any, Any]:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from stats.groups import group_create
    from stats.models import GroupMembership
    from stats.models import PlayerGroup as Group

    chosen = rng.sample(user_ids, size)
    owner = get_user_model().objects.get(pk=chosen[0])
    group: Group = group_create(owner=owner, name=f"group of {size}")
    GroupMembership.objects.bulk_create(
        [GroupMembership(group=group, user_id=user_id) for user_id in chosen[1:]],
        batch_size=10_000,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE stats_groupmembership")
    return group, owner


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _read_pages(client: Any, slug: str, size: int, reads: int) -> list[float]:
    """Milliseconds of `reads` reads of each measured page of the group's board."""
    last_page = -(-size // 25)
    samples: list[float] = []
    for query in (
        "",
        f"?page={last_page // 2}",
        f"?page={last_page}",
        "?competition=cup",
        f"?competition=cup&page={last_page // 2}",
    ):
        path = f"/api/groups/{slug}/leaderboard{query}"
        assert client.get(path).status_code == 200, path
        for _ in range(reads):
            begun = time.perf_counter()
            client.get(path)
            samples.append((time.perf_counter() - begun) * 1000)
    return samples


def group_boards_measure(
    *,
    players: int,
    reads: int,
    seed: int,
    ranked_reads: int = 20,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Build the league and both groups in the current (freshly migrated) database, and read
    each group's pages `ranked_reads` times ranked at read time, then `reads` times from its
    counts once built: p50/p99 of both per group, the counts' against its target."""
    from django.test import Client

    from stats.groups import group_counts_sync

    started = time.perf_counter()
    user_ids = _league(players, seed)
    say(f"league of {players:,} players built in {time.perf_counter() - started:.1f} s")
    rng = random.Random(seed)
    groups: dict[str, dict[str, Any]] = {}
    for size, target in TARGETS_MS.items():
        built = time.perf_counter()
        group, owner = _group(size, user_ids, rng)
        say(f"group of {size:,} members built in {time.perf_counter() - built:.1f} s")
        client = Client()
        client.force_login(owner)
        ranked = _read_pages(client, group.slug, size, ranked_reads)
        built = time.perf_counter()
        assert group_counts_sync(group=group)
        counts_built_s = time.perf_counter() - built
        samples = _read_pages(client, group.slug, size, reads)
        p50, p99 = _percentile(samples, 0.5), _percentile(samples, 0.99)
        ranked_p50, ranked_p99 = _percentile(ranked, 0.5), _percentile(ranked, 0.99)
        groups[str(size)] = {
            "members": size,
            "read_p50_ms": round(p50, 1),
            "read_p99_ms": round(p99, 1),
            "reads": len(samples),
            "target_p99_ms": target,
            "ranked_p50_ms": round(ranked_p50, 1),
            "ranked_p99_ms": round(ranked_p99, 1),
            "ranked_reads": len(ranked),
            "counts_built_s": round(counts_built_s, 1),
        }
        verdict = "ok" if p99 <= target else "OVER TARGET"
        say(
            f"group of {size:,} members: ranked at read time p50 {ranked_p50:.1f} ms, p99 "
            f"{ranked_p99:.1f} ms over {len(ranked):,} reads; counts built in "
            f"{counts_built_s:.1f} s; from counts p50 {p50:.1f} ms, p99 {p99:.1f} ms over "
            f"{len(samples):,} reads (target p99 <= {target:.0f} ms: {verdict})"
        )
    return {
        "players": players,
        "reads_per_page": reads,
        "groups": groups,
        "seconds": round(time.perf_counter() - started, 1),
        "note": "each group's first, middle and last page overall, then its first and middle "
        "page in a competition, through the API (Django's test client, a signed-in member); "
        "p99 over every read of the group: read_* from the group's counts (judged), ranked_* "
        "ranked at read time before its counts were built (the small groups' path)",
    }


def main() -> None:
    arguments = _arguments()
    django_setup(os.environ.get("BENCH_DATABASE") or "matchday_bench_groups")
    from bench.database import database_recreate

    name = database_recreate()
    print(f"database {name}: {arguments.players:,} players", flush=True)
    measured = group_boards_measure(
        players=arguments.players,
        reads=arguments.reads,
        seed=arguments.seed,
        ranked_reads=arguments.ranked_reads,
        say=lambda line: print(line, flush=True),
    )
    failed = any(g["read_p99_ms"] > g["target_p99_ms"] for g in measured["groups"].values())
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()

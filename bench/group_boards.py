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
matchday_bench_groups), recreated each run.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from typing import Any

import django

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

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO auth_user (username, password, is_superuser, is_staff, is_active,"
            " first_name, last_name, email, date_joined)"
            " SELECT 'player' || g, '!', false, false, true, '', '', '', now()"
            " FROM generate_series(1, %s) AS g",
            [players],
        )
        cursor.execute(
            "INSERT INTO stats_competition (name, slug)"
            " VALUES ('Premier', 'premier'), ('Cup', 'cup')"
        )
        cursor.execute("SELECT setseed(%s)", [seed / 1000])
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


def main() -> None:
    arguments = _arguments()
    os.environ.setdefault("BENCH_DATABASE", "matchday_bench_groups")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    django.setup()
    from django.test import Client

    from bench.database import database_recreate
    from stats.groups import group_counts_sync

    name = database_recreate()
    print(f"database {name}: {arguments.players:,} players", flush=True)
    started = time.perf_counter()
    user_ids = _league(arguments.players, arguments.seed)
    print(f"league built in {time.perf_counter() - started:.1f} s", flush=True)
    rng = random.Random(arguments.seed)
    failed = False
    for size, target in TARGETS_MS.items():
        group, owner = _group(size, user_ids, rng)
        client = Client()
        client.force_login(owner)
        ranked = _read_pages(client, group.slug, size, arguments.ranked_reads)
        started = time.perf_counter()
        assert group_counts_sync(group=group)
        built = time.perf_counter() - started
        counted = _read_pages(client, group.slug, size, arguments.reads)
        p50, p99 = _percentile(counted, 0.5), _percentile(counted, 0.99)
        verdict = "ok" if p99 <= target else "OVER TARGET"
        failed |= p99 > target
        print(
            f"group of {size:,} members: ranked at read time p50 "
            f"{_percentile(ranked, 0.5):.1f} ms, p99 {_percentile(ranked, 0.99):.1f} ms over "
            f"{len(ranked):,} reads; counts built in {built:.1f} s; from counts p50 {p50:.1f} ms,"
            f" p99 {p99:.1f} ms over {len(counted):,} reads (target p99 <= {target:.0f} ms:"
            f" {verdict})",
            flush=True,
        )
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()

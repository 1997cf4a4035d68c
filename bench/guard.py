"""What the queueing-lock guard costs: `python -m bench.guard [--jobs N] [--rounds R]`.

Procrastinate's own statements (defer, fetch, retry, finish) timed one call at a time from a
client, each in its own transaction as a worker sends them, against three copies of one migrated
database: without a guard, with 0007's, with 0012's (the one migrate installs). The copies are
called in turn, call by call, in a rotating order, so that the drift of a shared machine hits the
three alike. Then the advisory locks one transaction holds after a batch defer of queueing-locked
jobs. Prints a table (each guard's median per call, then its change from no guard: the median
of the per-round changes and, in brackets, their range) and writes bench/results/guard.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

import psycopg
from psycopg import sql

from bench import django_setup
from bench.report import RESULTS_DIR

# The guard migrate installs (0012's), and the set-ups compared with it.
INSTALLED = "0012"
SETUPS = ("none", "0007", INSTALLED)
# From 0012, as migrate leaves it, to each set-up (0012's reverse leaves no guard).
GUARD_SQL = {
    "none": ["migrations/0012_queueing_lock_guard_v3.reverse.sql"],
    "0007": [
        "migrations/0012_queueing_lock_guard_v3.reverse.sql",
        "migrations/0007_queueing_lock_guard_v2.sql",
    ],
    INSTALLED: [],
}
DEFER = (
    "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW('bench', 't', 0, %(lock)s, %(lock)s, '{}',"
    " NULL)::procrastinate_job_to_defer_v1])"
)
DEFER_BATCH = (
    "SELECT procrastinate_defer_jobs_v1(ARRAY(SELECT ROW('bench', 't', 0, NULL, %s || g, '{}',"
    " NULL)::procrastinate_job_to_defer_v1 FROM generate_series(1, %s) AS g))"
)
FETCH = "SELECT id FROM procrastinate_fetch_job_v2(ARRAY['bench'], NULL)"
RETRY = "SELECT procrastinate_retry_job_v2(%(id)s, now(), NULL, NULL, NULL)"
FINISH = "SELECT procrastinate_finish_job_v1(%(id)s, 'succeeded', false)"
EMPTY = "TRUNCATE procrastinate_jobs, stats_joberror RESTART IDENTITY CASCADE"
ADVISORY_HELD = (
    "SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory'"
)
BATCH_SIZES = (1000, 20_000)

Connections = dict[str, psycopg.Connection[Any]]
Samples = dict[str, dict[str, list[float]]]


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.guard", description=__doc__)
    parser.add_argument(
        "--jobs", type=int, default=500, help="calls per step and round (default 500)"
    )
    parser.add_argument("--rounds", type=int, default=10, help="rounds (default 10)")
    parser.add_argument(
        "--database",
        default=os.environ.get("BENCH_DATABASE") or "matchday_bench_guard",
        help="the benchmark database, dropped and recreated, and the prefix of its two copies"
        " (default %(default)s)",
    )
    return parser.parse_args()


def _interleaved(
    conns: Connections,
    samples: Samples | None,
    step: str,
    query: str,
    params: dict[str, list[dict[str, Any]]],
) -> dict[str, list[Any]]:
    """Call `query` with each set-up's parameters in turn, call by call, in a rotating order;
    add each call's wall time (µs) to `samples[setup][step]`; return each set-up's answers
    (first column)."""
    answers: dict[str, list[Any]] = {setup: [] for setup in conns}
    order = list(conns)
    for index in range(max(len(values) for values in params.values())):
        rotation = order[index % len(order) :] + order[: index % len(order)]
        for setup in rotation:
            if index >= len(params[setup]):
                continue
            started = time.perf_counter_ns()
            row = conns[setup].execute(query, params[setup][index]).fetchone()
            if samples is not None:
                samples[setup].setdefault(step, []).append(
                    (time.perf_counter_ns() - started) / 1000
                )
            answers[setup].append(row[0] if row else None)
    return answers


def _one_round(conns: Connections, samples: Samples | None, jobs: int, tag: str) -> None:
    """Every step once, from an empty queue in each copy."""
    for conn in conns.values():
        conn.execute(EMPTY)
    locks = [{"lock": f"{tag}-{n}"} for n in range(jobs)]
    each = dict.fromkeys(conns, locks)
    nothing: dict[str, list[dict[str, Any]]] = dict.fromkeys(conns, [{}] * jobs)

    def by_id(answers: dict[str, list[Any]]) -> dict[str, list[dict[str, Any]]]:
        return {setup: [{"id": job_id} for job_id in ids] for setup, ids in answers.items()}

    _interleaved(conns, samples, "defer", DEFER, each)
    fetched = _interleaved(conns, samples, "fetch", FETCH, nothing)
    _interleaved(conns, samples, "retry", RETRY, by_id(fetched))
    fetched = _interleaved(conns, None, "", FETCH, nothing)
    _interleaved(conns, samples, "finish", FINISH, by_id(fetched))

    # A retry meeting a waiting follow-up: without a guard it raises (procrastinate#1446).
    guarded = {setup: conn for setup, conn in conns.items() if setup != "none"}
    for conn in guarded.values():
        conn.execute(EMPTY)
    _interleaved(guarded, None, "", DEFER, dict.fromkeys(guarded, locks))
    fetched = _interleaved(guarded, None, "", FETCH, dict.fromkeys(guarded, [{}] * jobs))
    _interleaved(guarded, None, "", DEFER, dict.fromkeys(guarded, locks))  # the follow-ups
    _interleaved(guarded, samples, "retry_superseded", RETRY, by_id(fetched))

    for setup, conn in conns.items():
        started = time.perf_counter()
        with conn.transaction(force_rollback=True):
            conn.execute(DEFER_BATCH, [f"{tag}-batch-", jobs])
        if samples is not None:
            elapsed = (time.perf_counter() - started) * 1000
            samples[setup].setdefault("defer_batch_ms", []).append(elapsed)


def _locks_after_batch(conn: psycopg.Connection[Any], size: int) -> int | str:
    """Advisory locks held by one transaction once it has deferred `size` queueing-locked jobs
    (or the error the server answered)."""
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(DEFER_BATCH, ["locks-", size])
            row = conn.execute(ADVISORY_HELD).fetchone()
            return int(row[0]) if row else 0
    except psycopg.errors.OutOfMemory as error:
        return str(error).splitlines()[0]


def _copies(params: dict[str, Any], database: str) -> dict[str, str]:
    """A copy of the migrated `database` per set-up other than the installed one (`database`)."""
    names = {setup: f"{database}_{setup}" for setup in SETUPS if setup != INSTALLED}
    with psycopg.connect(**{**params, "dbname": "postgres"}, autocommit=True) as admin:
        for name in names.values():
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            admin.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(database)
                )
            )
    return {**names, INSTALLED: database}


def _drop_copies(params: dict[str, Any], names: dict[str, str]) -> None:
    with psycopg.connect(**{**params, "dbname": "postgres"}, autocommit=True) as admin:
        for setup, name in names.items():
            if setup != INSTALLED:
                admin.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))


def main() -> None:
    arguments = _arguments()
    django_setup(arguments.database)

    from django.db import connection

    from bench.database import database_recreate, server_description
    from stats.sql import load_sql

    database_recreate()
    results: dict[str, Any] = {
        "server": server_description(),
        "jobs": arguments.jobs,
        "rounds": arguments.rounds,
    }
    params = connection.get_connection_params()
    connection.close()
    names = _copies(params, arguments.database)
    _say(f"{', '.join(names.values())}: migrated, one guard set-up each")
    samples: Samples = {setup: {} for setup in SETUPS}
    conns: Connections = {}
    try:
        for setup in SETUPS:
            conn = psycopg.connect(**{**params, "dbname": names[setup]}, autocommit=True)
            conns[setup] = conn
            with conn.transaction():
                for name in GUARD_SQL[setup]:
                    conn.execute(load_sql(name))
            # The flush to disk at each commit costs the same with or without a guard and,
            # on a shared disk, dwarfs it: without it the figures show the statements' cost.
            conn.execute("SET synchronous_commit TO off")
        for round_ in range(-1, arguments.rounds):  # round -1 warms the caches, untimed
            _one_round(conns, samples if round_ >= 0 else None, arguments.jobs, f"r{round_}")
            _say(f"round {round_ + 1}/{arguments.rounds} measured")
        locks = {
            setup: {size: _locks_after_batch(conn, size) for size in BATCH_SIZES}
            for setup, conn in conns.items()
        }
    finally:
        for conn in conns.values():
            conn.close()
    _drop_copies(params, names)
    results["samples_us"] = samples
    results["advisory_locks_after_batch"] = locks
    _print(samples, locks, arguments.rounds)
    path = RESULTS_DIR / "guard.json"
    path.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    _say(f"written to {path}")


def _say(text: str) -> None:
    print(text, flush=True)


def _ratios(samples: Samples, setup: str, step: str, rounds: int) -> list[float]:
    """Per round: the set-up's median over the no-guard median, for the spread across rounds."""
    values, base = samples[setup].get(step), samples["none"].get(step)
    if not values or not base:
        return []
    size = len(values) // rounds
    return [
        statistics.median(values[r * size : (r + 1) * size])
        / statistics.median(base[r * size : (r + 1) * size])
        for r in range(rounds)
    ]


def _print(samples: Samples, locks: dict[str, dict[int, int | str]], rounds: int) -> None:
    steps = ["defer", "fetch", "retry", "finish", "retry_superseded", "defer_batch_ms"]
    print(f"\n{'median per call':<18}" + "".join(f"{setup:>28}" for setup in SETUPS))
    for step in steps:
        unit = "ms" if step.endswith("_ms") else "µs"
        cells = []
        for setup in SETUPS:
            values = samples[setup].get(step)
            if not values:
                cells.append(f"{'(raises)' if step == 'retry_superseded' else '—':>28}")
                continue
            ratios = _ratios(samples, setup, step, rounds) if setup != "none" else []
            spread = (
                f" {statistics.median(ratios) - 1:+.0%} [{min(ratios) - 1:+.0%}, "
                f"{max(ratios) - 1:+.0%}]"
                if ratios
                else ""
            )
            cells.append(f"{f'{statistics.median(values):.1f} {unit}{spread}':>28}")
        print(f"{step:<18}" + "".join(cells))
    print(f"\n{'advisory locks held':<18}" + "".join(f"{setup:>28}" for setup in SETUPS))
    for size in BATCH_SIZES:
        row = "".join(f"{str(locks[setup][size])[:27]:>28}" for setup in SETUPS)
        print(f"{f'batch of {size:,}':<18}{row}")


if __name__ == "__main__":
    main()

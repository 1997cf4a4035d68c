"""Reads over HTTP as a new user would try them: `python -m bench.http_reads [--users U] ...`.

gunicorn with 2 sync workers, DEBUG off, on 127.0.0.1 only, in front of a generated league in
its own database (`matchday_bench_http`, recreated). 8 client threads each make a bounded
number of requests of one kind at a time, one connection per request (a sync worker closes it
after each answer); the kinds, in turn, pass after pass:

- `floor`: a URL no route serves, answered by Django's own 404 (every middleware, no query):
  the most a request can be served at on this stack;
- `board`: `GET /api/leaderboard?page=N&page_size=50`, N one of the first 5 pages;
- `stats`: `GET /api/users/<random player>/stats`;
- `not_modified`: the board's first page with the `If-None-Match` its last answer carried (304);
- `html`: `GET /leaderboard/`, anonymous.

Short passes, many of them, each setting's server in turn within a pass: the load of a shared
machine swings within minutes, and each ratio compares requests measured seconds apart.

Each kind's requests per second are compared with the floor's of the same pass (`*_vs_floor`),
under each database connection setting in turn (`--connections`): a connection per request
(`CONN_MAX_AGE=0`, the settings' default), persistent connections (`CONN_MAX_AGE=60`, as
docs/deploy runs gunicorn), psycopg's pool (`DATABASE_POOL=4`), and persistent connections without
the prepared public reads (`DATABASE_PREPARED_STATEMENTS=false`). The queries each kind makes are
counted in-process first (Django's test client). Writes results/http_reads.json and adds its
figures to results/latest.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import django_setup
from bench.console import Progress

CLIENTS = 8
WORKERS = 2
KINDS = ("floor", "board", "stats", "not_modified", "html")
TARGETS = {"board": 0.5, "stats": 0.5, "not_modified": 0.8, "html": 0.3}
CONNECTIONS = {
    "conn_max_age_0": {"CONN_MAX_AGE": "0"},
    "conn_max_age_60": {"CONN_MAX_AGE": "60"},
    "pool": {"CONN_MAX_AGE": "0", "DATABASE_POOL": "4"},
    # The same as conn_max_age_60 but planned at every request: what the prepared reads save.
    "unprepared": {"CONN_MAX_AGE": "60", "DATABASE_PREPARED_STATEMENTS": "false"},
}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.http_reads", description=__doc__)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--matches", type=int, default=40)
    parser.add_argument("--requests", type=int, default=25, help="per client per kind and pass")
    parser.add_argument("--passes", type=int, default=8)
    parser.add_argument(
        "--connections",
        default=",".join(CONNECTIONS),
        help=f"connection settings to measure, in turn (default {','.join(CONNECTIONS)})",
    )
    parser.add_argument("--database", default="matchday_bench_http")
    parser.add_argument(
        "--reuse", action="store_true", help="measure the database as it is (no regeneration)"
    )
    parser.add_argument("--seed", type=int, default=20250101)
    return parser.parse_args()


def main() -> None:
    arguments = _arguments()
    django_setup(arguments.database)
    from bench.database import database_recreate, server_description
    from bench.generate import Scale, league_generate
    from bench.report import RESULTS_DIR, results_write

    progress = Progress()
    say = progress.say
    if arguments.reuse:
        from bench.generate import COMPETITIONS

        user_ids = _user_ids()
        competition = COMPETITIONS[0][1]
        say(f"measuring {arguments.database} as it is ({user_ids[1] - user_ids[0] + 1:,} users)")
    else:
        database_recreate()
        league = league_generate(
            Scale(arguments.users, arguments.matches),
            reserved=2,
            scheduled=0,
            seed=arguments.seed,
            say=say,
        )
        user_ids, competition = league.user_ids, league.competition_slugs[0]
    queries = queries_per_request(user_ids, competition)
    say(f"queries per request: {queries}")

    names = arguments.connections.split(",")
    say(f"gunicorn, {WORKERS} sync workers each, for {', '.join(names)}")
    runs = _measure_servers(names, arguments, user_ids=user_ids, competition=competition, say=say)
    best = max(runs, key=lambda name: runs[name]["vs_floor"]["board"])
    figures = {
        "http_reads": {
            "scale": {"users": user_ids[1] - user_ids[0] + 1, "matches": arguments.matches},
            "queries_per_request": queries,
            "runs": runs,
            "best_connections": best,
            "targets": {
                kind: {
                    "target": f">= {limit} x floor",
                    "value": runs[best]["vs_floor"][kind],
                    "holds": runs[best]["vs_floor"][kind] >= limit,
                }
                for kind, limit in TARGETS.items()
            },
            "note": f"gunicorn {WORKERS} sync workers, DEBUG off, {CLIENTS} client threads on "
            f"127.0.0.1, {arguments.requests} requests per client per kind and pass, "
            f"{arguments.passes} passes; requests/s per kind against Django's 404 of the same pass",
            "command": "python -m bench.http_reads "
            f"--users {arguments.users} --matches {arguments.matches} "
            f"--requests {arguments.requests} --passes {arguments.passes}"
            + (" --reuse" if arguments.reuse else ""),
            "machine": server_description(),
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    }
    results_write(figures, name="http_reads")
    latest = RESULTS_DIR / "latest.json"
    if latest.exists():
        results = json.loads(latest.read_text(encoding="utf-8"))
        results.update(figures)
        latest.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print()
    print(table(runs))
    print()
    say(f"written {RESULTS_DIR / 'http_reads.json'}")


def _user_ids() -> tuple[int, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT min(user_id), max(user_id) FROM stats_prediction")
        first, last = cursor.fetchone()
    return int(first), int(last)


def _urls(user_ids: tuple[int, int], competition: str) -> dict[str, Callable[[random.Random], str]]:
    return {
        "floor": lambda rng: f"/api/no-such-thing/{rng.randint(1, 10**6)}",
        "board": lambda rng: f"/api/leaderboard?page={rng.randint(1, 5)}&page_size=50",
        "stats": lambda rng: f"/api/users/{rng.randint(*user_ids)}/stats",
        "not_modified": lambda rng: "/api/leaderboard?page=1&page_size=50",
        "html": lambda rng: "/leaderboard/",
        "competition_board": (
            lambda rng: f"/api/leaderboard?competition={competition}&page={rng.randint(1, 5)}"
        ),
    }


def queries_per_request(user_ids: tuple[int, int], competition: str) -> dict[str, int]:
    """The queries of one request of each kind, counted in-process (a warmed-up test client)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    rng = random.Random(3)
    counts = {}
    urls = _urls(user_ids, competition)
    etag = client.get(urls["board"](rng)).get("ETag", "")
    for kind, url in urls.items():
        headers = {"If-None-Match": etag} if kind == "not_modified" and etag else {}
        client.get(url(rng), headers=headers)  # warm-up
        with CaptureQueriesContext(connection) as queries:
            client.get(url(rng), headers=headers)
        counts[kind] = len(queries)
    return counts


def _server_start(env: dict[str, str], arguments: argparse.Namespace) -> tuple[Any, int]:
    """gunicorn on a free loopback port with this connection setting; (process, port)."""
    from stats.processes import free_port, port_accepts, wait_until

    port = free_port()
    log = Path(tempfile.gettempdir()) / f"bench-gunicorn-{port}.log"
    server_env = {
        **os.environ,
        **env,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "BENCH_DATABASE": arguments.database,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
    }
    with log.open("wb") as output:
        server = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "stats_project.wsgi:application",
                "--workers",
                str(WORKERS),
                "--bind",
                f"127.0.0.1:{port}",
                "--access-logfile",
                "-" if os.environ.get("BENCH_ACCESS_LOG") else "/dev/null",
            ],
            env=server_env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    wait_until(lambda: port_accepts(port), timeout=30, what="gunicorn to listen")
    return server, port


def _measure_servers(
    names: list[str],
    arguments: argparse.Namespace,
    *,
    user_ids: tuple[int, int],
    competition: str,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Every connection setting's server at once (an idle one costs nothing), measured in
    turn, pass by pass and kind by kind: a shared machine's load swings weigh on all alike."""
    from stats.processes import processes_stop

    servers: dict[str, tuple[Any, int]] = {}
    passes: dict[str, list[dict[str, dict[str, Any]]]] = {name: [] for name in names}
    try:
        for name in names:
            servers[name] = _server_start(CONNECTIONS[name], arguments)
        urls = _urls(user_ids, competition)
        etags = {}
        for name, (_, port) in servers.items():
            etags[name] = _get(port, urls["board"](random.Random(1)))[1].get("etag", "")
            for kind in KINDS:  # warm every worker: imports, URL resolver, connections, plans
                _load(port, urls[kind], etags[name] if kind == "not_modified" else "", requests=20)
        for index in range(arguments.passes):
            for name, (_, port) in servers.items():
                measured = {
                    kind: _load(
                        port,
                        urls[kind],
                        etags[name] if kind == "not_modified" else "",
                        requests=arguments.requests,
                    )
                    for kind in KINDS
                }
                passes[name].append(measured)
                say(
                    f"  pass {index + 1}, {name}: "
                    + ", ".join(f"{kind} {m['per_s']:,.0f}/s" for kind, m in measured.items())
                )
    finally:
        processes_stop([server for server, _ in servers.values()])
    return {name: _summary(CONNECTIONS[name], passes[name]) for name in names}


def _summary(env: dict[str, str], passes: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    per_s = {kind: statistics.median(p[kind]["per_s"] for p in passes) for kind in KINDS}
    return {
        "env": env,
        "per_s": {kind: round(value, 1) for kind, value in per_s.items()},
        "vs_floor": {
            kind: round(
                statistics.median(p[kind]["per_s"] / p["floor"]["per_s"] for p in passes), 3
            )
            for kind in KINDS
            if kind != "floor"
        },
        "p50_ms": {
            kind: round(statistics.median(p[kind]["p50_ms"] for p in passes), 2) for kind in KINDS
        },
        "p99_ms": {kind: round(max(p[kind]["p99_ms"] for p in passes), 2) for kind in KINDS},
        "passes": passes,
    }


def _get(port: int, url: str, etag: str = "") -> tuple[int, dict[str, str]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"If-None-Match": etag} if etag else {}
        connection.request("GET", url, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()


def _load(
    port: int, url: Callable[[random.Random], str], etag: str, *, requests: int
) -> dict[str, Any]:
    """CLIENTS threads, `requests` each, one kind: requests/s over the whole, latency p50/p99."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS + 1)

    def client(seed: int) -> None:
        rng = random.Random(seed)
        mine: list[float] = []
        codes: dict[int, int] = {}
        start.wait()
        for _ in range(requests):
            began = time.perf_counter()
            status, _ = _get(port, url(rng), etag)
            mine.append((time.perf_counter() - began) * 1000)
            codes[status] = codes.get(status, 0) + 1
        with lock:
            latencies.extend(mine)
            for code, count in codes.items():
                statuses[code] = statuses.get(code, 0) + count

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(CLIENTS)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "per_s": len(latencies) / elapsed,
        "p50_ms": latencies[len(latencies) // 2],
        "p99_ms": latencies[max(0, int(len(latencies) * 0.99) - 1)],
        "statuses": {str(code): count for code, count in sorted(statuses.items())},
    }


def table(runs: dict[str, Any]) -> str:
    lines = [
        "| connections | "
        + " | ".join(f"{kind} /s" for kind in KINDS)
        + " | "
        + " | ".join(f"{kind} / floor" for kind in TARGETS)
        + " |",
        "|---|" + "---:|" * (len(KINDS) + len(TARGETS)),
    ]
    for name, run in runs.items():
        lines.append(
            f"| {name} | "
            + " | ".join(f"{run['per_s'][kind]:,.0f}" for kind in KINDS)
            + " | "
            + " | ".join(f"{run['vs_floor'][kind]:.2f}" for kind in TARGETS)
            + " |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()

"""Predictions over HTTP: `python -m bench.put_predictions [--players N] [--seconds S]`.

`PUT /api/matches/<id>/prediction` requests per second on gunicorn, against the floor of the
same server answering a 404, at the same concurrency, one run each. Players sign in with bearer
tokens; each request predicts a random open match with random scores (new or changed). Its own
database, recreated each run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
from http.client import HTTPConnection
from pathlib import Path


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=int, default=200)
    parser.add_argument("--matches", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--web-workers", type=int, default=2)
    return parser.parse_args()


def _league(players: int, matches: int) -> tuple[list[str], list[int]]:
    from stats.players import token_issue
    from tests.support.factories import make_competition, make_match, make_user

    competition = make_competition("bench")
    match_ids = [make_match(competition, round=1 + n // 10).pk for n in range(matches)]
    tokens = [token_issue(user=make_user(f"player{n}")).secret for n in range(players)]
    return tokens, match_ids


def _hammer(
    port: int, seconds: float, concurrency: int, request: object
) -> tuple[float, dict[int, int]]:
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(seed: int) -> None:
        rng = random.Random(seed)
        conn = HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < deadline:
            method, path, body, headers = request(rng)  # type: ignore[operator]
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            with lock:
                statuses[response.status] = statuses.get(response.status, 0) + 1
        conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(concurrency)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(statuses.values()) / (time.monotonic() - started), statuses


def main() -> None:
    arguments = _arguments()
    os.environ.setdefault("BENCH_DATABASE", "matchday_bench_put")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from django.conf import settings

    from bench.database import database_recreate
    from stats.processes import free_port, port_accepts, processes_stop, wait_until

    name = database_recreate()
    tokens, match_ids = _league(arguments.players, arguments.matches)
    port = free_port()
    environment = {
        **os.environ,
        "BENCH_DATABASE": name,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "SECRET_KEY": settings.SECRET_KEY,
        "CONN_MAX_AGE": "60",
        "LOG_LEVEL": "ERROR",
    }
    gunicorn = Path(sys.executable).with_name("gunicorn")
    web = subprocess.Popen(
        [
            str(gunicorn),
            "stats_project.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(arguments.web_workers),
            "--log-level",
            "warning",
        ],
        env=environment,
    )
    try:
        wait_until(lambda: port_accepts(port), timeout=60, what="gunicorn", poll=0.2)

        def missing(rng: random.Random) -> tuple[str, str, None, dict[str, str]]:
            return "GET", "/api/no-such-endpoint", None, {}

        def predict(rng: random.Random) -> tuple[str, str, str, dict[str, str]]:
            body = json.dumps({"home_score": rng.randint(0, 4), "away_score": rng.randint(0, 4)})
            return (
                "PUT",
                f"/api/matches/{rng.choice(match_ids)}/prediction",
                body,
                {
                    "Authorization": f"Bearer {rng.choice(tokens)}",
                    "Content-Type": "application/json",
                },
            )

        floor, floor_statuses = _hammer(port, arguments.seconds, arguments.concurrency, missing)
        puts, put_statuses = _hammer(port, arguments.seconds, arguments.concurrency, predict)
    finally:
        processes_stop([web], timeout=30)
    print(
        f"gunicorn, {arguments.web_workers} workers, {arguments.concurrency} clients, "
        f"{arguments.seconds:.0f} s each:"
    )
    print(f"  404 floor:           {floor:,.0f} requests/s  {floor_statuses}")
    print(f"  PUT prediction:      {puts:,.0f} requests/s  {put_statuses}")
    print(f"  PUT / floor:         {puts / floor:.0%}")


if __name__ == "__main__":
    main()

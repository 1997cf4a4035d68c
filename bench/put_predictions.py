"""Predictions over HTTP: `python -m bench.put_predictions [--players N] [--seconds S]`.

`PUT /api/matches/<id>/prediction` requests per second on gunicorn, against the floor of the
same server answering a 404, at the same concurrency, one run each. Players sign in with bearer
tokens; each request predicts a random open match with random scores (new or changed). Its own
database, recreated each run. `make bench` runs the same measurement as its `put_predictions`
section (`put_predictions_measure`).
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
from collections.abc import Callable
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

from bench import django_setup


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=int, default=200)
    parser.add_argument("--matches", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--web-workers", type=int, default=2)
    return parser.parse_args()


def _league(players: int, matches: int) -> tuple[list[str], list[int]]:
    from django.contrib.auth import get_user_model

    from stats.players import token_issue
    from tests.support.factories import make_competition, make_match

    competition = make_competition("bench")
    match_ids = [make_match(competition, round=1 + n // 10).pk for n in range(matches)]
    # Players of tokens only: no password to hash (the default hasher costs ~0.5 s a user here).
    User = get_user_model()
    users = User.objects.bulk_create(
        [User(username=f"player{n}", password="!") for n in range(players)]  # noqa: S106
    )
    tokens = [token_issue(user=user).secret for user in users]
    return tokens, match_ids


def _answers(port: int) -> bool:
    conn = HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/api/no-such-endpoint")
        conn.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        conn.close()


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


def put_predictions_measure(
    *,
    players: int,
    matches: int,
    seconds: float,
    concurrency: int,
    web_workers: int,
    database: str,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """In the current (freshly migrated) database `database`: players with tokens and open
    matches, gunicorn on it, then the 404 floor and the PUTs, `seconds` each, one after the
    other at the same concurrency."""
    from django.conf import settings

    from stats.processes import free_port, port_accepts, processes_stop, wait_until

    tokens, match_ids = _league(players, matches)
    port = free_port()
    environment = {
        **os.environ,
        "BENCH_DATABASE": database,
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
            str(web_workers),
            "--log-level",
            "warning",
        ],
        env=environment,
    )
    try:
        wait_until(lambda: port_accepts(port), timeout=60, what="gunicorn", poll=0.2)
        # The port accepts before the workers have loaded the project: without a warm-up the
        # first kind measured (the floor) paid for their start.
        wait_until(lambda: _answers(port), timeout=60, what="gunicorn's workers", poll=0.2)

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

        for warm_up in (missing, predict):
            _hammer(port, min(seconds, 2.0), concurrency, warm_up)
        floor, floor_statuses = _hammer(port, seconds, concurrency, missing)
        puts, put_statuses = _hammer(port, seconds, concurrency, predict)
    finally:
        processes_stop([web], timeout=30)
    say(
        f"gunicorn, {web_workers} workers, {concurrency} clients, {seconds:.0f} s each: "
        f"404 floor {floor:,.0f} requests/s {floor_statuses}, PUT prediction {puts:,.0f} "
        f"requests/s {put_statuses}, PUT / floor {puts / floor:.0%}"
    )
    return {
        "floor_per_s": round(floor, 1),
        "put_per_s": round(puts, 1),
        "put_vs_floor": round(puts / floor, 3),
        "statuses": {
            "floor": {str(code): count for code, count in sorted(floor_statuses.items())},
            "put": {str(code): count for code, count in sorted(put_statuses.items())},
        },
        "note": f"gunicorn {web_workers} sync workers, CONN_MAX_AGE=60, {concurrency} client "
        f"threads, {seconds:.0f} s of 404s then {seconds:.0f} s of PUTs (bearer tokens of "
        f"{players} players, {matches} open matches)",
    }


def main() -> None:
    arguments = _arguments()
    django_setup(os.environ.get("BENCH_DATABASE") or "matchday_bench_put")
    from bench.database import database_recreate

    name = database_recreate()
    put_predictions_measure(
        players=arguments.players,
        matches=arguments.matches,
        seconds=arguments.seconds,
        concurrency=arguments.concurrency,
        web_workers=arguments.web_workers,
        database=name,
    )


if __name__ == "__main__":
    main()

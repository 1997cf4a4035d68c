"""The benchmark's own task, found by Procrastinate's autodiscovery when `bench` is installed
(bench/settings.py installs it, for the runner and the workers it starts)."""

from __future__ import annotations

from procrastinate.contrib.django import app

BENCH_QUEUE = "bench"


@app.task(name="bench.tasks.noop", queue=BENCH_QUEUE)
def noop() -> None:
    """Does nothing: what the queue and the worker cost per job, for capacity planning."""

"""Benchmarks of matchday stats: a league-scale data generator and a runner (`python -m bench`).

Every run works in its own database (`matchday_bench` unless `BENCH_DATABASE` says otherwise),
recreated from scratch, so benchmarks never touch development data.
"""

from __future__ import annotations

import os

import django


def django_setup(database: str) -> None:
    """Django with the benchmarks' settings, on `database` (the run's own)."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ["BENCH_DATABASE"] = database
    django.setup()

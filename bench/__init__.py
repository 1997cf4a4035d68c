"""Benchmarks of matchday stats: a league-scale data generator and a runner (`python -m bench`).

Every run works in its own database (`matchday_bench` unless `BENCH_DATABASE` says otherwise),
recreated from scratch, so benchmarks never touch development data.
"""

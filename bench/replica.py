"""The reads during a refresh measured again with a streaming replica serving them.

The replica is made as the tests make theirs (tests/support/replica.py: `pg_basebackup -R`, here
of the benchmark's own embedded server, started on its own socket) and configured as the
`replica` alias, so the reads
go through the same views and the same routing as in production while the refresh runs on the
primary. Each figure of the measurement is reported again with the suffix `_replica`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection, connections

from bench.measure import Say
from stats.replica import PRIMARY, REPLICA, replica_monitor
from tests.support.replica import StreamingReplica

# The figures of `reads_measure` repeated for the replica run, and the ones shown in summaries.
REPLICA_FIGURES = (
    "read_p50_ms_idle",
    "read_p99_ms_idle",
    "read_p50_ms_during_refresh",
    "read_p99_ms_during_refresh",
    "read_max_ms_during_refresh",
    "read_samples",
    "reads_by_kind_ms",
    "slowest_reads_during_refresh_ms",
)


class _Fallbacks(logging.Handler):
    """Counts the times public reads left the replica during the measurement."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def not_measured(reason: str) -> dict[str, Any]:
    return {
        "read_p99_ms_during_refresh_replica": None,
        "read_max_ms_during_refresh_replica": None,
        "replica_note": reason,
    }


def _league_scans(conn: psycopg.Connection[Any]) -> int:
    (scans,) = conn.execute(
        "SELECT COALESCE(sum(seq_scan + COALESCE(idx_scan, 0)), 0)::bigint"
        " FROM pg_stat_user_tables WHERE relname LIKE 'stats\\_%%'"
    ).fetchone() or (0,)
    return int(scans)


def replica_reads_measure(reads_measure: Callable[[], dict[str, Any]], say: Say) -> dict[str, Any]:
    """Make a replica of the benchmark's server, run `reads_measure` with the public reads on
    it, and report its figures with the suffix `_replica`; the replica is destroyed after."""
    primary_settings = connections[PRIMARY].settings_dict
    if not primary_settings.get("EMBEDDED_PGDATA"):
        return not_measured(
            "not measured: DATABASE_URL names a server this benchmark does not own, and the "
            "replica is a pg_basebackup of the embedded server"
        )
    params = connection.get_connection_params()
    started = time.perf_counter()
    replica = StreamingReplica.create(primary_host=params["host"], primary_port=params["port"])
    made_s = time.perf_counter() - started
    say(f"  replica made by pg_basebackup and started in {made_s:.1f} s")
    databases = settings.DATABASES
    databases[REPLICA] = replica.database_settings(primary_settings)
    replica_monitor.reset()
    fallbacks = _Fallbacks()
    logging.getLogger("stats.replica").addHandler(fallbacks)
    database = primary_settings["NAME"]
    try:
        connection.ensure_connection()
        replica.wait_caught_up(connection.connection)
        with replica.connect(database) as standby:
            scans_before = _league_scans(standby)
            reads = reads_measure()
            scans_after = _league_scans(standby)
        catch_up_ms = _catch_up_after_write_ms(replica)
    finally:
        logging.getLogger("stats.replica").removeHandler(fallbacks)
        connections[REPLICA].close()
        del connections[REPLICA]
        del databases[REPLICA]
        replica_monitor.reset()
        replica.destroy()
    results: dict[str, Any] = {
        f"{name}_replica": reads[name] for name in REPLICA_FIGURES if name in reads
    }
    results["replica"] = {
        "made_s": round(made_s, 1),
        "league_scans_on_replica": scans_after - scans_before,
        "fallbacks_to_primary": fallbacks.count,
        "catch_up_ms_after_a_write": round(catch_up_ms, 1),
    }
    results["replica_note"] = (
        "the same reads, served by a streaming replica (pg_basebackup -R of the same embedded "
        "server, on the same machine and cores) while the refresh runs on the primary"
    )
    return results


def _catch_up_after_write_ms(replica: StreamingReplica) -> float:
    """From a commit on the primary to the replica having replayed it (median of 5)."""
    samples = []
    params = connection.get_connection_params()
    primary_params = {key: params[key] for key in ("host", "port", "user", "dbname")}
    with (
        psycopg.connect(**primary_params, autocommit=True) as primary,
        replica.connect("postgres") as standby,
    ):
        for _ in range(5):
            started = time.perf_counter()
            # txid_current() gives the transaction an id, so its commit is a WAL record; the
            # position read after it is past that record.
            primary.execute("SELECT txid_current()")
            (position,) = primary.execute("SELECT pg_current_wal_flush_lsn()").fetchone() or (None,)
            while not (
                standby.execute(
                    "SELECT pg_wal_lsn_diff(%s::pg_lsn, pg_last_wal_replay_lsn()) <= 0",
                    [position],
                ).fetchone()
                or (False,)
            )[0]:
                time.sleep(0.0005)
            samples.append((time.perf_counter() - started) * 1000)
    return sorted(samples)[len(samples) // 2]

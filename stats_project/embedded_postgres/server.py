"""Start, or join, the embedded PostgreSQL server (the `pgserver` package) of a data folder."""

from __future__ import annotations

import subprocess
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql


@dataclass(frozen=True)
class ServerAddress:
    socket_dir: str
    port: int


_started: dict[tuple[Path, str], ServerAddress] = {}
_start_lock = threading.Lock()


def ensure_server(pgdata: Path, database: str) -> ServerAddress:
    """Return the address of the server in `pgdata`, starting it and creating `database` if needed.

    The server outlives this process (every process of the project shares it); pgserver
    serialises concurrent starts with a file lock, and a concurrent CREATE DATABASE is tolerated.
    """
    key = (pgdata, database)
    with _start_lock:
        if key not in _started:
            address = _start(pgdata)
            _create_database(address, database)
            _started[key] = address
        return _started[key]


def _start(pgdata: Path) -> ServerAddress:
    with warnings.catch_warnings():
        # pgserver warns at import when XDG_RUNTIME_DIR is unset; its fallback folder is fine.
        warnings.simplefilter("ignore")
        import pgserver

    try:
        server = pgserver.get_server(pgdata, cleanup_mode=None)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        raise psycopg.OperationalError(
            f"the embedded PostgreSQL server in {pgdata} failed to start ({exc}); "
            f"its log is {pgdata / 'log'}"
        ) from exc
    info = server.get_postmaster_info()
    return ServerAddress(socket_dir=str(info.socket_dir), port=int(info.port or 5432))


def _create_database(address: ServerAddress, database: str) -> None:
    with psycopg.connect(
        host=address.socket_dir,
        port=address.port,
        user="postgres",
        dbname="postgres",
        autocommit=True,
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if exists:
            return
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            pass  # another process created it first

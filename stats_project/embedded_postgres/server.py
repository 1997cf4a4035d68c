"""Start, or join, the embedded PostgreSQL server (the `pgserver` package) of a data folder."""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from django.core.exceptions import ImproperlyConfigured
from psycopg import sql


@dataclass(frozen=True)
class ServerAddress:
    socket_dir: str
    port: int


# pgserver is a development extra (it bundles its own PostgreSQL); production sets DATABASE_URL.
MISSING_PGSERVER = (
    "DATABASE_URL is not set, so the embedded PostgreSQL server would start, but its package "
    "(pgserver) is not installed. For development: pip install -e '.[embedded]' (or "
    "pip install -r requirements-dev.txt). In production: set DATABASE_URL to your server."
)

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


def _pgserver() -> Any:
    """The pgserver module that manages servers, imported quietly."""
    with warnings.catch_warnings():
        # pgserver warns at import when XDG_RUNTIME_DIR is unset; its fallback folder is fine.
        warnings.simplefilter("ignore")
        try:
            from pgserver import postgres_server
        except ImportError as exc:
            raise ImproperlyConfigured(MISSING_PGSERVER) from exc

    return postgres_server


def _start(pgdata: Path) -> ServerAddress:
    try:
        server = _pgserver().get_server(pgdata, cleanup_mode=None)
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
        # Another process may create it first.
        with contextlib.suppress(psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def stop_server(pgdata: Path) -> None:
    """Stop the embedded server in `pgdata` (fast shutdown), if one runs there; a later
    `ensure_server` of the same folder, in this process too, starts it again."""
    postgres_server = _pgserver()
    info = postgres_server.PostmasterInfo.read_from_pgdata(pgdata)
    if info is not None and info.is_running():
        user = "pgserver" if os.geteuid() == 0 else None  # pgserver runs it so under root
        subprocess.run(  # noqa: S603  (a fixed binary and our own data folder)
            [
                str(postgres_server.POSTGRES_BIN_PATH / "pg_ctl"),
                *("-D", str(pgdata), "-m", "fast", "-w", "stop"),
            ],
            check=True,
            capture_output=True,
            user=user,
        )
    with _start_lock:
        for key in [key for key in _started if key[0] == pgdata]:
            del _started[key]
        # pgserver caches a handle per folder and would hand back the stopped server.
        stale = postgres_server.PostgresServer._instances.pop(pgdata.resolve(), None)
        if stale is not None:
            atexit.unregister(stale._cleanup)

"""Private PostgreSQL servers made with the embedded server's own binaries: a primary
(`initdb`), and a streaming replica of any primary we can reach (`pg_basebackup -R`).

Each lives in its own temporary folder and listens only on a socket there, so it shares no
port with anyone. The replica tests use a private pair; the benchmark copies its own server.
Both stop and delete what they start.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import psycopg

# A server's socket is `.s.PGSQL.<port>` in its own folder, so every server can use this port.
PORT = 5432


def _binaries() -> Path:
    with warnings.catch_warnings():
        # pgserver warns at import when XDG_RUNTIME_DIR is unset; its fallback folder is fine.
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _system_user() -> str | None:
    """PostgreSQL refuses to run as root: then run it as `pgserver`, as pgserver itself does
    (the same user, created if missing, allowed to run the binaries)."""
    if os.geteuid() != 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

    ensure_user_exists("pgserver")
    binaries = _binaries()
    ensure_prefix_permissions(binaries)
    ensure_folder_permissions(binaries, stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(binaries.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
    return "pgserver"


@dataclass
class LocalServer:
    """A PostgreSQL server in a temporary folder of its own, on a socket in that folder."""

    folder: Path
    system_user: str | None
    # Tests trade durability for speed (fsync off); the benchmark's replica keeps the defaults.
    durable: bool = True

    @classmethod
    def initdb(cls, *, durable: bool = True) -> Self:
        """A new, empty server (trusting local connections, as the embedded one), started."""
        server = cls._in_new_folder(durable=durable)
        try:
            server._run(
                "initdb",
                *("-D", str(server.data), "-U", "postgres", "--auth=trust", "--encoding=utf8"),
                "--no-sync",
            )
            server.start()
        except BaseException:
            server.destroy()
            raise
        return server

    @classmethod
    def _in_new_folder(cls, *, durable: bool) -> Self:
        folder = Path(tempfile.mkdtemp(prefix="matchday-pg-"))
        server = cls(folder, _system_user(), durable)
        if server.system_user is not None:
            shutil.chown(folder, server.system_user, server.system_user)
        return server

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def socket_dir(self) -> str:
        return str(self.folder)

    @property
    def port(self) -> int:
        return PORT

    def start(self) -> None:
        options = f"-h '' -k {self.folder} -p {PORT}" + ("" if self.durable else " -c fsync=off")
        self._run(
            "pg_ctl",
            *("-D", str(self.data), "-l", str(self.folder / "log"), "-o", options),
            *("-w", "-t", "60", "start"),
        )

    def stop(self) -> None:
        if self.running():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def destroy(self) -> None:
        """Stop the server and delete its folder."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def database_settings(self, base: dict[str, Any]) -> dict[str, Any]:
        """Django settings for this server: `base` (database name, options) moved here."""
        return {
            **base,
            "HOST": self.socket_dir,
            "PORT": str(PORT),
            "USER": "postgres",
            "PASSWORD": "",
            "EMBEDDED_PGDATA": "",
            "OPTIONS": {**base.get("OPTIONS", {}), "connect_timeout": 2},
        }

    def connect(self, dbname: str) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] = psycopg.connect(
            host=self.socket_dir, port=PORT, user="postgres", dbname=dbname, autocommit=True
        )
        return conn

    def log(self) -> str:
        path = self.folder / "log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _run(self, binary: str, *args: str) -> None:
        try:
            subprocess.run(
                [str(_binaries() / binary), *args],
                check=True,
                capture_output=True,
                user=self.system_user,
                timeout=300,
            )
        except subprocess.CalledProcessError as exc:
            detail = exc.stderr.decode(errors="replace").strip()
            raise RuntimeError(f"{binary} failed: {detail}\n{self.log()}") from exc


class StreamingReplica(LocalServer):
    """A hot standby streaming from a primary."""

    @classmethod
    def create(cls, *, primary_host: str, primary_port: int, durable: bool = True) -> Self:
        """Copy the primary at `primary_host` (its socket folder) and start the copy as a standby.

        The primary must accept replication connections from `postgres` (the embedded server's
        pg_hba.conf trusts local ones) and have `wal_level = replica`, PostgreSQL's default.
        """
        replica = cls._in_new_folder(durable=durable)
        try:
            replica._run(
                "pg_basebackup",
                *("-D", str(replica.data), "-h", primary_host, "-p", str(primary_port)),
                *("-U", "postgres", "--write-recovery-conf", "--wal-method=stream"),
                *("--checkpoint=fast", "--no-sync", "--no-manifest"),
            )
            replica.start()
        except BaseException:
            replica.destroy()
            raise
        return replica

    def wait_caught_up(self, primary: psycopg.Connection[Any], *, timeout: float = 30) -> None:
        """Wait until the standby has replayed everything the primary has flushed so far."""
        (target,) = primary.execute("SELECT pg_current_wal_flush_lsn()").fetchone() or (None,)
        deadline = time.monotonic() + timeout
        with self.connect("postgres") as standby:
            while True:
                (caught_up,) = standby.execute(
                    "SELECT pg_wal_lsn_diff(%s::pg_lsn, pg_last_wal_replay_lsn()) <= 0", [target]
                ).fetchone() or (False,)
                if caught_up:
                    return
                if time.monotonic() > deadline:
                    raise AssertionError(f"the replica did not replay {target} in {timeout} s")
                time.sleep(0.01)

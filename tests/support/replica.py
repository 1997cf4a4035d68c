"""A private streaming replica of the embedded server, made with that server's own binaries.

`pg_basebackup -R` copies the running primary into a temporary folder and writes the settings
that make the copy a standby streaming from it; the standby listens only on a socket in that
folder. Used by the replica tests and by the benchmark, which both stop what they start.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

# The standby's socket is `.s.PGSQL.<port>` in its own folder, so no port is shared with anyone.
REPLICA_PORT = 5432


def _binaries() -> Path:
    with warnings.catch_warnings():
        # pgserver warns at import when XDG_RUNTIME_DIR is unset; its fallback folder is fine.
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _system_user() -> str | None:
    """PostgreSQL refuses to run as root; pgserver then runs its servers as `pgserver`."""
    return "pgserver" if os.geteuid() == 0 else None


@dataclass
class StreamingReplica:
    folder: Path
    system_user: str | None

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def socket_dir(self) -> str:
        return str(self.folder)

    @classmethod
    def create(cls, *, primary_host: str, primary_port: int) -> StreamingReplica:
        """Copy the primary at `primary_host` (its socket folder) and start the copy as a standby.

        The primary must accept replication connections from `postgres` (the embedded server's
        pg_hba.conf trusts local ones) and have `wal_level = replica`, PostgreSQL's default.
        """
        folder = Path(tempfile.mkdtemp(prefix="matchday-replica-"))
        replica = cls(folder, _system_user())
        try:
            if replica.system_user is not None:
                shutil.chown(folder, replica.system_user, replica.system_user)
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

    def start(self) -> None:
        options = f"-h '' -k {self.folder} -p {REPLICA_PORT} -c cluster_name=matchday-replica"
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
        """Stop the standby and delete its folder."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def database_settings(self, primary: dict[str, Any]) -> dict[str, Any]:
        """Django settings for this standby: the primary's (same database, same user) moved to
        the standby's socket."""
        return {
            **primary,
            "HOST": self.socket_dir,
            "PORT": str(REPLICA_PORT),
            "EMBEDDED_PGDATA": "",
            "OPTIONS": {**primary.get("OPTIONS", {}), "connect_timeout": 2},
        }

    def connect(self, dbname: str) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] = psycopg.connect(
            host=self.socket_dir, port=REPLICA_PORT, user="postgres", dbname=dbname, autocommit=True
        )
        return conn

    def wait_caught_up(self, primary: psycopg.Connection[Any], *, timeout: float = 30) -> None:
        """Wait until the standby has replayed everything the primary has written so far."""
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
                timeout=120,
            )
        except subprocess.CalledProcessError as exc:
            detail = exc.stderr.decode(errors="replace").strip()
            raise RuntimeError(f"{binary} failed: {detail}\n{self.log()}") from exc

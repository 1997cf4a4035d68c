from __future__ import annotations

import select
from pathlib import Path
from typing import Any

import psycopg
from django.db.backends.postgresql import base
from psycopg.pq import TransactionStatus

from stats_project.embedded_postgres import EMBEDDED_DATABASE_NAME
from stats_project.embedded_postgres.client import DatabaseClient
from stats_project.embedded_postgres.server import (
    HELD_STOPPED,
    ServerHeldStopped,
    ensure_server,
    forget_server,
)


class DatabaseWrapper(base.DatabaseWrapper):
    client_class = DatabaseClient

    def get_connection_params(self) -> dict[str, Any]:
        params: dict[str, Any] = super().get_connection_params()
        pgdata = self.settings_dict.get("EMBEDDED_PGDATA")
        if pgdata:
            address = ensure_server(
                Path(pgdata),
                EMBEDDED_DATABASE_NAME,
                initialise=bool(self.settings_dict.get("EMBEDDED_INITIALISE")),
            )
            params["host"] = address.socket_dir
            params["port"] = address.port
        return params

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        try:
            return super().get_new_connection(conn_params)
        except psycopg.OperationalError as exc:
            pgdata = self.settings_dict.get("EMBEDDED_PGDATA")
            if pgdata:
                # Stopped, or restarted elsewhere: the next connection looks the server up anew.
                forget_server(Path(pgdata))
                if (Path(pgdata) / HELD_STOPPED).exists():
                    raise ServerHeldStopped(
                        f"the embedded PostgreSQL server in {pgdata} was stopped with `make "
                        "db-stop`: `make db-start` starts it again"
                    ) from exc
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise psycopg.OperationalError(
                f"cannot connect to PostgreSQL {self._describe_server(conn_params)}: {reason}"
            ) from exc

    def is_usable(self) -> bool:
        """Django's check (a `SELECT 1`), asked only when the connection's socket says something.

        With CONN_HEALTH_CHECKS every request's first query on a persistent connection waits for
        this check; a round trip each time is most of a cheap read's cost on a busy server. An
        idle connection's socket has nothing to read unless the server spoke first: it ended the
        session (a restart, a terminated backend: the goodbye, then end of file) or sent a notice.
        A quiet socket is a live session; anything else gets the real check.
        """
        connection = self.connection
        if (
            connection is not None
            and not connection.closed
            and connection.info.transaction_status == TransactionStatus.IDLE
        ):
            readable, _, _ = select.select([connection.fileno()], [], [], 0)
            if not readable:
                return True
        return bool(super().is_usable())

    def _describe_server(self, conn_params: dict[str, Any]) -> str:
        database = conn_params.get("dbname", "postgres")
        pgdata = self.settings_dict.get("EMBEDDED_PGDATA")
        if pgdata:
            return f"(embedded server in {pgdata}, database {database})"
        host = conn_params.get("host") or "the default socket"
        port = conn_params.get("port") or 5432
        return f"at {host}:{port}/{database} as {conn_params.get('user', '')!r} (DATABASE_URL)"

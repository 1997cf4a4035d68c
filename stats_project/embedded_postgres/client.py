from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.db.backends.postgresql import client

from stats_project.embedded_postgres import EMBEDDED_DATABASE_NAME
from stats_project.embedded_postgres.server import bin_path, ensure_server


class DatabaseClient(client.DatabaseClient):
    """`manage.py dbshell`: psql on the embedded server's socket, not libpq's default one."""

    @classmethod
    def settings_to_cmd_args_env(
        cls, settings_dict: dict[str, Any], parameters: Iterable[str]
    ) -> tuple[list[str], dict[str, str] | None]:
        pgdata = settings_dict.get("EMBEDDED_PGDATA")
        if not pgdata:
            return super().settings_to_cmd_args_env(settings_dict, parameters)
        address = ensure_server(Path(pgdata), EMBEDDED_DATABASE_NAME)
        embedded = {**settings_dict, "HOST": address.socket_dir, "PORT": str(address.port)}
        args, env = super().settings_to_cmd_args_env(embedded, parameters)
        # The psql that comes with the server: no system client needed, and of the same version.
        return [str(bin_path() / "psql"), *args[1:]], env

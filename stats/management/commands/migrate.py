"""`manage.py migrate`, Django's own, that may also create the embedded server's data folder and
database (DATABASE_URL unset): the one command, with `make db-start`, that brings a new one to
life. Any other process on a missing one says that `make migrate` creates it."""

from __future__ import annotations

from typing import Any

from django.core.management.commands import migrate
from django.db import connections


class Command(migrate.Command):
    def execute(self, *args: Any, **options: Any) -> str | None:
        # Before the system checks, whose database checks connect first.
        connection = connections[options["database"]]
        if connection.settings_dict.get("EMBEDDED_PGDATA"):
            connection.settings_dict["EMBEDDED_INITIALISE"] = True
        result: str | None = super().execute(*args, **options)
        return result

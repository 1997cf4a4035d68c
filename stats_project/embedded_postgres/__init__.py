"""A PostgreSQL database backend that can also run its own server.

`ENGINE = "stats_project.embedded_postgres"` is Django's PostgreSQL backend with three additions:
a settings dict carrying `EMBEDDED_PGDATA` joins (or starts again) an embedded server in that
folder on the first connection (`server.py`; `EMBEDDED_INITIALISE` lets it create one),
`dbshell` opens psql on that server, and a connection failure names the server that was tried.
`python -m stats_project.embedded_postgres` checks, starts and stops it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

EMBEDDED_DATABASE_NAME = "matchday"


def embedded_database(pgdata: Path, *, initialise: bool = False) -> dict[str, Any]:
    """Settings for the embedded server kept in `pgdata`; nothing starts until a connection.

    With `initialise` (the tests), a connection creates the data folder and the database when
    they are missing; otherwise only `migrate` (and `demo`, which migrates) and `make db-start`
    do, and any other process says that `make migrate` creates them.
    """
    return {
        "ENGINE": "stats_project.embedded_postgres",
        "NAME": EMBEDDED_DATABASE_NAME,
        "USER": "postgres",
        "EMBEDDED_PGDATA": str(pgdata),
        "EMBEDDED_INITIALISE": initialise,
    }

"""A PostgreSQL database backend that can also run its own server.

`ENGINE = "stats_project.embedded_postgres"` is Django's PostgreSQL backend with three additions:
a settings dict carrying `EMBEDDED_PGDATA` starts (or joins) an embedded server in that folder on
the first connection (`server.py`), `dbshell` opens psql on that server, and a connection failure
names the server that was tried. `python -m stats_project.embedded_postgres` checks, starts and
stops it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

EMBEDDED_DATABASE_NAME = "matchday"


def embedded_database(pgdata: Path) -> dict[str, Any]:
    """Settings for the embedded server kept in `pgdata`; nothing starts until a connection."""
    return {
        "ENGINE": "stats_project.embedded_postgres",
        "NAME": EMBEDDED_DATABASE_NAME,
        "USER": "postgres",
        "EMBEDDED_PGDATA": str(pgdata),
    }

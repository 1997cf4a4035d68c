"""SQL kept in .sql files beside this module, loaded by name; the cursor the public reads run it
on."""

from __future__ import annotations

import functools
from importlib import resources

import psycopg
from django.db import connections
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper


@functools.cache
def load_sql(name: str) -> str:
    """The text of `stats/sql/<name>`, e.g. `load_sql("score_match.sql")`."""
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def prepared_cursor(alias: str) -> CursorWrapper:
    """A cursor on the database `alias` whose statements bind their parameters on the server, so
    that psycopg prepares a statement once it has run `prepare_threshold` times on the connection
    (the alias's OPTIONS; `DATABASE_PREPARED_STATEMENTS`, see the settings) and PostgreSQL stops
    planning it at every run.

    For the public reads: long statements run over and over with a few integers, whose planning
    cost as much as their run (docs/scaling.md, "Reads over HTTP"). Django's own cursors put
    the parameters into the text (client-side binding), which psycopg never prepares; they stay
    so for everything else. Health check, connection, query log: as `connection.cursor()`.
    """
    connection = connections[alias]
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    cursor = psycopg.Cursor(connection.connection)  # psycopg's own: binds server-side
    wrapper = CursorDebugWrapper if connection.queries_logged else CursorWrapper
    return wrapper(cursor, connection)

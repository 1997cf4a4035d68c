"""SQL kept in .sql files beside this module, loaded by name; the cursor the public reads run it
on."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

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
    planning it at every run. Its statements use PostgreSQL's own placeholders ($1, $2…): see
    native_placeholders.

    For the public reads: long statements run over and over with a few integers, whose planning
    cost as much as their run (docs/scaling.md, "Reads over HTTP"). Django's own cursors put
    the parameters into the text (client-side binding), which psycopg never prepares; they stay
    so for everything else. Health check, connection, query log: as `connection.cursor()`.
    """
    connection = connections[alias]
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    cursor = psycopg.RawCursor(connection.connection)  # psycopg's own: binds server-side
    wrapper = CursorDebugWrapper if connection.queries_logged else CursorWrapper
    return wrapper(cursor, connection)


_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%s|%%")


def native_placeholders(
    query: str, params: Mapping[str, Any] | Sequence[Any]
) -> tuple[str, list[Any]]:
    """`query`, written with psycopg's placeholders (%(name)s, or %s), as PostgreSQL's own ($1,
    $2…) for prepared_cursor, and its parameters in their order.

    psycopg converts its placeholders at every execution, and remembers the conversion only for
    statements under 4 kB: the boards' statements are longer (docs/scaling.md, "Reads over
    HTTP"). Here each statement is converted once.
    """
    text, names = _converted(query)
    if names is None:
        return text, list(params)
    if not isinstance(params, Mapping):
        raise TypeError("a statement with named placeholders takes its parameters by name")
    return text, [params[name] for name in names]


@functools.cache
def _converted(query: str) -> tuple[str, tuple[str, ...] | None]:
    """The statement with $n placeholders, and the parameter named by each n (None: %s ones,
    in order)."""
    numbers: dict[str, int] = {}
    positional = 0

    def number(match: re.Match[str]) -> str:
        nonlocal positional
        if match.group(0) == "%%":
            return "%"
        if match.group(1) is None:
            positional += 1
            return f"${positional}"
        return f"${numbers.setdefault(match.group(1), len(numbers) + 1)}"

    text = _PLACEHOLDER.sub(number, query)
    if positional and numbers:
        raise ValueError("a statement takes named or positional placeholders, not both")
    return text, (tuple(numbers) if numbers else None)

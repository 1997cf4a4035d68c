"""Whether a process can work on its database: it answers, and every migration is applied.

A worker started on a database that is stopped, missing or not migrated used to exit with a
traceback and be started again, in a loop; run_worker and the worker itself ask here first and
wait, saying which in one line.
"""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor

from stats_project.embedded_postgres.server import NotCreated, ServerHeldStopped


def database_problem(alias: str = DEFAULT_DB_ALIAS) -> str | None:
    """None when the database answers and is migrated; else what is wrong, in one line."""
    connection = connections[alias]
    try:
        connection.ensure_connection()
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc.__cause__, ServerHeldStopped):
            return f"database stopped: {reason}"
        if isinstance(exc.__cause__, NotCreated) or "does not exist" in reason:
            return f"database missing: {reason}"
        return f"database unreachable: {reason}"
    if pending:
        return (
            f"database not migrated: {len(pending)} migration(s) to apply"
            " (`make migrate`, or `manage.py migrate`)"
        )
    return None


def problem_kind(problem: str) -> str:
    """`database stopped`, `database missing`, `database unreachable` or `database not
    migrated`: a waiting process says a problem again only when its kind changes (a migration
    running meanwhile changes the count, not the problem)."""
    return problem.split(":", 1)[0]

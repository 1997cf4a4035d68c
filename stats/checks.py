"""System checks: every statistics relation exists with its unique index; the cron secret.

Django drops a column with CASCADE, which silently drops a materialized view built on it; this
check (run by `manage.py check --database default` and before every `migrate`) makes it loud.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core import checks
from django.db import DatabaseError, connections
from django.db.migrations.recorder import MigrationRecorder

# Before this migration the relations are not what the registry says yet, which is not a problem.
STATISTICS_MIGRATION = ("stats", "0012_ranks_from_counts")


@checks.register(checks.Tags.database)
def check_stats_views(
    databases: Sequence[str] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    from stats.relations import relation_problems

    errors: list[checks.CheckMessage] = []
    for alias in databases or ():
        connection = connections[alias]
        try:
            if STATISTICS_MIGRATION not in MigrationRecorder(connection).applied_migrations():
                continue
            with connection.cursor() as cursor:
                problems = relation_problems(cursor)
        except DatabaseError as exc:
            errors.append(
                checks.Error(f"cannot inspect the stats relations: {exc}", id="stats.E001")
            )
            continue
        errors.extend(
            checks.Error(
                problem,
                hint="Re-create it with the SQL of its migration in stats/sql/migrations/.",
                id="stats.E002",
            )
            for problem in problems
        )
    return errors


@checks.register(checks.Tags.security)
def check_cron_secret(**kwargs: Any) -> list[checks.CheckMessage]:
    # A site that could be public refuses a short secret at start-up (stats/security_checks.py);
    # in development it is only a warning.
    from stats.security_checks import MIN_CRON_SECRET_LENGTH

    secret = settings.CRON_SECRET
    if secret and len(secret) < MIN_CRON_SECRET_LENGTH:
        return [
            checks.Warning(
                f"CRON_SECRET is {len(secret)} characters long; use at least "
                f"{MIN_CRON_SECRET_LENGTH}.",
                hint="python -c 'import secrets; print(secrets.token_urlsafe(32))'",
                id="stats.W001",
            )
        ]
    return []

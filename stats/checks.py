"""System checks: every statistics relation exists with its unique index; the operators' secrets.

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
STATISTICS_MIGRATION = ("stats", "0013_ranks_from_counts")


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
def check_secret_lengths(**kwargs: Any) -> list[checks.CheckMessage]:
    # A site that could be public refuses short secrets at start-up (stats/security_checks.py);
    # in development they are only warnings.
    from stats.security_checks import MIN_CRON_SECRET_LENGTH, MIN_METRICS_TOKEN_LENGTH

    warnings: list[checks.CheckMessage] = []
    for setting, minimum, warning_id in (
        ("CRON_SECRET", MIN_CRON_SECRET_LENGTH, "stats.W001"),
        ("METRICS_TOKEN", MIN_METRICS_TOKEN_LENGTH, "stats.W004"),
    ):
        secret = getattr(settings, setting)
        if secret and len(secret) < minimum:
            warnings.append(
                checks.Warning(
                    f"{setting} is {len(secret)} characters long; use at least {minimum}.",
                    hint="python3 -c 'import secrets; print(secrets.token_urlsafe(32))'",
                    id=warning_id,
                )
            )
    return warnings


@checks.register(checks.Tags.security, deploy=True)
def check_operator_secrets_set(**kwargs: Any) -> list[checks.CheckMessage]:
    """`check --deploy`: a production site without these starts safe, but closed where an
    operator expects it open."""
    warnings: list[checks.CheckMessage] = []
    if not settings.CRON_SECRET:
        warnings.append(
            checks.Warning(
                "CRON_SECRET is not set: the cron endpoint answers 503, and the boards are "
                "refreshed only after scored points.",
                hint="Set it to 32+ random characters: "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'",
                id="stats.W002",
            )
        )
    if not settings.METRICS_TOKEN:
        warnings.append(
            checks.Warning(
                "METRICS_TOKEN is not set: /metrics and the detailed /health refuse everyone, "
                "Prometheus included.",
                hint="Set it to 32+ random characters: "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'",
                id="stats.W003",
            )
        )
    return warnings

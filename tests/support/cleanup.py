"""What Django's flush between transactional tests leaves behind, and clearing it."""

from __future__ import annotations

import psycopg
from django.db import connection
from procrastinate.contrib.django.utils import connector_params
from psycopg import sql

from stats.matviews import STATS_VIEWS


def queue_empty() -> None:
    """Empty Procrastinate's tables (unmanaged, so the flush leaves their rows)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE procrastinate_jobs, procrastinate_periodic_defers,"
            " procrastinate_workers RESTART IDENTITY CASCADE"
        )


def statistics_reset() -> None:
    """Recompute every statistics relation from the tables as they are (flushed: empty).

    On a connection of its own, so it commits even when called inside a test's transaction.
    """
    with psycopg.connect(**connector_params(), autocommit=True) as own:
        for view in STATS_VIEWS:
            own.execute(sql.SQL("REFRESH MATERIALIZED VIEW {}").format(sql.Identifier(view.name)))

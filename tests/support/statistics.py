"""The statistics relations, emptied after a transactional test.

They are unmanaged, so Django's flush (a TRUNCATE, which fires no row or statement trigger of
ours) leaves their rows and marks behind: the next test would read another league's boards.
"""

from __future__ import annotations

from django.db.backends.utils import CursorWrapper
from psycopg import sql

from stats.relations import STATS_RELATIONS


def statistics_empty(cursor: CursorWrapper) -> None:
    """Empty every statistics table and the marks, then the materialized views built on them."""
    tables = [relation.name for relation in STATS_RELATIONS if not relation.is_materialized_view]
    cursor.execute(
        sql.SQL("TRUNCATE stats_touched, {}")
        .format(sql.SQL(", ").join(map(sql.Identifier, tables)))
        .as_string(cursor.connection)
    )
    for relation in STATS_RELATIONS:
        if relation.is_materialized_view:
            cursor.execute(
                sql.SQL("REFRESH MATERIALIZED VIEW {}")
                .format(sql.Identifier(relation.name))
                .as_string(cursor.connection)
            )

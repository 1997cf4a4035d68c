"""The statistics relations, emptied after a transactional test.

They are unmanaged, so Django's flush (a TRUNCATE of the league's tables, which logs a "recount
everything" for the next refresh) leaves their rows and the change log behind: the next test
would read another league's boards.
"""

from __future__ import annotations

from django.db.backends.utils import CursorWrapper
from psycopg import sql

from stats.relations import CHANGE_LOG, STATS_RELATIONS


def statistics_empty(cursor: CursorWrapper) -> None:
    """Empty every statistics table and the change log, then the materialized views."""
    tables = [relation.name for relation in STATS_RELATIONS if not relation.is_materialized_view]
    cursor.execute(
        sql.SQL("TRUNCATE {}")
        .format(sql.SQL(", ").join(map(sql.Identifier, [*CHANGE_LOG, *tables])))
        .as_string(cursor.connection)
    )
    for relation in STATS_RELATIONS:
        if relation.is_materialized_view:
            cursor.execute(
                sql.SQL("REFRESH MATERIALIZED VIEW {}")
                .format(sql.Identifier(relation.name))
                .as_string(cursor.connection)
            )

"""The materialized views this app owns: their names and keys, and their state in the database.

The views themselves are created by migrations from stats/sql/migrations/*.sql.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.backends.utils import CursorWrapper


@dataclass(frozen=True)
class MaterializedView:
    name: str
    key: tuple[str, ...]


STATS_VIEWS: tuple[MaterializedView, ...] = (
    MaterializedView("stats_leaderboard", ("user_id",)),
    MaterializedView("stats_competition_leaderboard", ("competition_id", "user_id")),
    MaterializedView("stats_round_leaderboard", ("competition_id", "round", "user_id")),
    MaterializedView("stats_match_summary", ("match_id",)),
)

# A concurrent refresh needs a valid unique index on plain columns, covering every row.
_VIEW_STATE_SQL = """
SELECT c.relname,
       EXISTS (
           SELECT 1 FROM pg_index AS i
           WHERE i.indrelid = c.oid
             AND i.indisunique AND i.indisvalid
             AND i.indpred IS NULL AND i.indexprs IS NULL
       ) AS has_unique_index
FROM pg_class AS c
WHERE c.relkind = 'm' AND c.relname = ANY(%s) AND pg_table_is_visible(c.oid)
"""


def view_states(cursor: CursorWrapper, names: list[str]) -> dict[str, bool]:
    """Of `names`, each existing materialized view and whether it has a usable unique index."""
    cursor.execute(_VIEW_STATE_SQL, [names])
    return dict(cursor.fetchall())


def view_problems(cursor: CursorWrapper) -> list[str]:
    """What stops each of STATS_VIEWS from being refreshed concurrently; empty when all is well."""
    states = view_states(cursor, [view.name for view in STATS_VIEWS])
    problems = []
    for view in STATS_VIEWS:
        if view.name not in states:
            problems.append(f"materialized view {view.name} does not exist")
        elif not states[view.name]:
            problems.append(
                f"materialized view {view.name} has no unique index on "
                f"({', '.join(view.key)}), so it cannot be refreshed concurrently"
            )
    return problems

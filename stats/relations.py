"""The statistics relations this app owns: the one list of their names, models, keys, and how
each is kept. Everything else (the refresh, the checks, the audit, the admin) reads it here.

The relations themselves are created by migrations (their current definitions are in
stats/sql/schema.sql) and kept by the refresh (stats/services.py, stats/sql/refresh/).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from django.db.backends.utils import CursorWrapper

from stats.models import (
    CompetitionStanding,
    CompetitionTotal,
    LeaderboardEntry,
    MatchSummary,
    RoundStanding,
    StatsReadModel,
)


class Upkeep(enum.Enum):
    """How a relation is kept up to date."""

    # A table whose partitions (a round, a match) are recomputed when a write touched them.
    PER_PARTITION = "table, recomputed per touched partition"
    # A table of totals that follows its partitions by difference (a rebuild recounts it).
    BY_DIFFERENCE = "table, kept by difference"
    # A materialized view over the totals, refreshed CONCURRENTLY (a unique index is required).
    MATERIALIZED_VIEW = "materialized view"


@dataclass(frozen=True)
class StatsRelation:
    model: type[StatsReadModel]
    key: tuple[str, ...]
    upkeep: Upkeep
    # The files of stats/sql that write it: the refresh's, then the rebuild's where it differs
    # (a materialized view has none: REFRESH MATERIALIZED VIEW CONCURRENTLY).
    refresh_sql: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.model._meta.db_table

    @property
    def audit_sql(self) -> tuple[str, ...]:
        """Its from-scratch definition from the predictions alone, each file wrapping the one
        before (stats/audit.py): a relation of players is their totals at its grain (its key
        before user_id), ranked if it is a board; any other has a file of its own."""
        if self.key[-1] != "user_id":
            return (f"audit/{self.name}.sql",)
        return ("audit/player_totals.sql", *(["audit/board.sql"] if self in BOARDS else []))

    @property
    def is_materialized_view(self) -> bool:
        return self.upkeep is Upkeep.MATERIALIZED_VIEW


ROUND_BOARDS = StatsRelation(
    RoundStanding,
    ("competition_id", "round", "user_id"),
    Upkeep.PER_PARTITION,
    ("refresh/round_boards.sql",),
)
COMPETITION_TOTALS = StatsRelation(
    CompetitionTotal,
    ("competition_id", "user_id"),
    Upkeep.BY_DIFFERENCE,
    ("refresh/carry_totals.sql", "refresh/recount_totals.sql"),
)
MATCH_SUMMARIES = StatsRelation(
    MatchSummary, ("match_id",), Upkeep.PER_PARTITION, ("refresh/match_summaries.sql",)
)
COMPETITION_BOARDS = StatsRelation(
    CompetitionStanding, ("competition_id", "user_id"), Upkeep.MATERIALIZED_VIEW
)
OVERALL_BOARD = StatsRelation(LeaderboardEntry, ("user_id",), Upkeep.MATERIALIZED_VIEW)

# In the order the refresh brings them up to date: each from the ones before it.
STATS_RELATIONS: tuple[StatsRelation, ...] = (
    ROUND_BOARDS,
    COMPETITION_TOTALS,
    MATCH_SUMMARIES,
    COMPETITION_BOARDS,
    OVERALL_BOARD,
)
# The leaderboards a reader pages through.
BOARDS: tuple[StatsRelation, ...] = (OVERALL_BOARD, COMPETITION_BOARDS, ROUND_BOARDS)

# Each relation's kind ('r' table, 'm' materialized view) and whether a valid unique index on
# plain columns covers every row (what a concurrent refresh requires, and what keys a table).
_RELATION_STATE_SQL = """
SELECT c.relname, c.relkind,
       EXISTS (
           SELECT 1 FROM pg_index AS i
           WHERE i.indrelid = c.oid
             AND i.indisunique AND i.indisvalid
             AND i.indpred IS NULL AND i.indexprs IS NULL
       ) AS has_unique_index
FROM pg_class AS c
WHERE c.relkind IN ('r', 'm') AND c.relname = ANY(%s) AND pg_table_is_visible(c.oid)
"""

_KIND = {"r": "table", "m": "materialized view"}


def relation_states(cursor: CursorWrapper, names: list[str]) -> dict[str, tuple[str, bool]]:
    """Of `names`, each existing relation: its kind and whether it has a usable unique index."""
    cursor.execute(_RELATION_STATE_SQL, [names])
    return {name: (_KIND[kind], unique) for name, kind, unique in cursor.fetchall()}


def relation_problem(relation: StatsRelation, state: tuple[str, bool] | None) -> str | None:
    """What is wrong with one relation in the database, or None."""
    kind = "materialized view" if relation.is_materialized_view else "table"
    if state is None:
        return f"{kind} {relation.name} does not exist"
    if state[0] != kind:
        return f"{relation.name} is a {state[0]}, not a {kind}"
    if not state[1]:
        why = ", so it cannot be refreshed concurrently" if relation.is_materialized_view else ""
        return f"{kind} {relation.name} has no unique index on ({', '.join(relation.key)}){why}"
    return None


def relation_problems(cursor: CursorWrapper) -> list[str]:
    """What is wrong with any of STATS_RELATIONS in the database; empty when all is well."""
    states = relation_states(cursor, [relation.name for relation in STATS_RELATIONS])
    problems = (
        relation_problem(relation, states.get(relation.name)) for relation in STATS_RELATIONS
    )
    return [problem for problem in problems if problem is not None]

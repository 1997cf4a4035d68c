"""The statistics relations this app owns: the one list of their names, keys, columns, and how
each is kept. Everything else (the refresh, the checks, the audit, the admin, the reads) reads it
here.

The relations themselves are created by migrations (their current definitions are in
stats/sql/schema.sql) and kept by the refresh (stats/refresh.py, stats/sql/refresh/) from the
change log the writers' triggers fill (CHANGE_LOG below).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from django.db.backends.utils import CursorWrapper
from psycopg import sql

from stats.models import CompetitionTotal, MatchSummary, RoundTotal, StatsReadModel, UserTotal
from stats.sql import load_sql


class Upkeep(enum.Enum):
    """How a relation is kept up to date."""

    # A table moved by exactly the difference the consumed changes make (a rebuild recounts it).
    BY_DIFFERENCE = "table, kept by difference"
    # A small table recomputed by every refresh from the league's rows, writing only what differs.
    RECOMPUTED = "table, recomputed by each refresh"
    # A materialized view over a table of counts, refreshed CONCURRENTLY (needs a unique index).
    MATERIALIZED_VIEW = "materialized view"


@dataclass(frozen=True)
class StatsRelation:
    name: str
    key: tuple[str, ...]
    # The columns beside the key that a reader sees (and the audit compares).
    values: tuple[str, ...]
    upkeep: Upkeep
    # The files of stats/sql that write it: the refresh's, then the rebuild's where it differs
    # (a materialized view has none: REFRESH MATERIALIZED VIEW CONCURRENTLY).
    refresh_sql: tuple[str, ...]
    # Its from-scratch definition from the predictions alone, each file wrapping the one before
    # as `totals` (stats/audit.py), with `grain` (its board's key) filled in.
    audit_sql: tuple[str, ...]
    # What picks one board of its kind: () overall, (competition_id,), (competition_id, round).
    board_key: tuple[str, ...] = ()
    # The read-only model over it, for the relations the ORM and the admin read.
    model: type[StatsReadModel] | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        return self.key + self.values

    @property
    def is_materialized_view(self) -> bool:
        return self.upkeep is Upkeep.MATERIALIZED_VIEW


TOTAL_COLUMNS = ("total_points", "predictions_scored", "exact_scores", "correct_outcomes")
# A board's groups: the players who stand level on both (rank is RANK() over these two).
GROUP = ("total_points", "exact_scores")


@dataclass(frozen=True)
class Movement:
    """A board's previous standings (previous_rank): how many players stood at each group before
    the board's latest round (their totals less their row of that round), and its rank view."""

    counts: StatsRelation
    ranks: StatsRelation


@dataclass(frozen=True)
class GroupCounts:
    """A board's rows for the private groups kept by counts (large ones: stats/groups.py): each
    member's standing in board order, how many members stand at each (points, exact) group, and
    how many stood there before the board's latest round (as Movement's counts, per group)."""

    members: StatsRelation
    counts: StatsRelation
    previous_counts: StatsRelation


@dataclass(frozen=True)
class Grain:
    """One kind of board: its per-player totals, its counts per group, its rank view, and (the
    overall and competition boards) its previous standings and its large groups' counts."""

    name: str
    totals: StatsRelation
    counts: StatsRelation
    ranks: StatsRelation
    movement: Movement | None = None
    groups: GroupCounts | None = None

    @property
    def board_key(self) -> tuple[str, ...]:
        """What picks one board of this kind: () overall, (competition_id,), (…, round)."""
        return self.totals.board_key


_PLAYER_TOTALS = "audit/player_totals.sql"
_PREVIOUS_TOTALS = "audit/previous_totals.sql"
_COUNTS = "audit/counts.sql"
_RANKS = "audit/ranks.sql"


def _movement(name: str, board_key: tuple[str, ...]) -> Movement:
    return Movement(
        StatsRelation(
            f"stats_{name}_previous_count",
            (*board_key, *GROUP),
            ("players",),
            Upkeep.BY_DIFFERENCE,
            (
                "refresh/previous_moved.sql",
                "refresh/counts.sql",
                "refresh/previous_recount.sql",
                "refresh/recount.sql",
            ),
            (_PREVIOUS_TOTALS, _COUNTS),
            board_key,
        ),
        StatsRelation(
            f"stats_{name}_previous_rank",
            (*board_key, *GROUP),
            ("players", "players_above"),
            Upkeep.MATERIALIZED_VIEW,
            (),
            (_PREVIOUS_TOTALS, _COUNTS, _RANKS),
            board_key,
        ),
    )


_GROUP_MEMBERS = "audit/group_members.sql"
_GROUP_COUNTS = "audit/group_counts.sql"


def _group_counts(name: str, board_key: tuple[str, ...]) -> GroupCounts:
    def counts(relation: str, totals: str) -> StatsRelation:
        return StatsRelation(
            relation,
            ("group_id", *board_key, *GROUP),
            ("players",),
            Upkeep.BY_DIFFERENCE,
            ("refresh/group_moved.sql", "refresh/group_counts.sql", "refresh/group_recount.sql"),
            (totals, _GROUP_MEMBERS, _GROUP_COUNTS),
            board_key,
        )

    return GroupCounts(
        StatsRelation(
            f"stats_group_{name}_member",
            ("group_id", *board_key, "user_id"),
            GROUP,
            Upkeep.BY_DIFFERENCE,
            ("refresh/group_moved.sql", "refresh/group_members.sql", "refresh/group_recount.sql"),
            (_PLAYER_TOTALS, _GROUP_MEMBERS),
            board_key,
        ),
        counts(f"stats_group_{name}_count", _PLAYER_TOTALS),
        counts(f"stats_group_{name}_previous_count", _PREVIOUS_TOTALS),
    )


def _grain(
    name: str, board_key: tuple[str, ...], model: type[StatsReadModel], *, movement: bool
) -> Grain:
    return Grain(
        name,
        StatsRelation(
            model._meta.db_table,
            (*board_key, "user_id"),
            TOTAL_COLUMNS,
            Upkeep.BY_DIFFERENCE,
            ("refresh/totals.sql",),
            (_PLAYER_TOTALS,),
            board_key,
            model,
        ),
        StatsRelation(
            f"stats_{name}_count",
            (*board_key, *GROUP),
            ("players",),
            Upkeep.BY_DIFFERENCE,
            ("refresh/counts.sql", "refresh/recount.sql"),
            (_PLAYER_TOTALS, _COUNTS),
            board_key,
        ),
        StatsRelation(
            f"stats_{name}_rank",
            (*board_key, *GROUP),
            ("players", "players_above"),
            Upkeep.MATERIALIZED_VIEW,
            (),
            (_PLAYER_TOTALS, _COUNTS, _RANKS),
            board_key,
        ),
        _movement(name, board_key) if movement else None,
        # Groups' boards have movement too: the grains with movement are the groups' boards.
        _group_counts(name, board_key) if movement else None,
    )


ROUND = _grain("round", ("competition_id", "round"), RoundTotal, movement=False)
COMPETITION = _grain("competition", ("competition_id",), CompetitionTotal, movement=True)
OVERALL = _grain("overall", (), UserTotal, movement=True)
# In the order the refresh moves them: a round's difference rolls up to its competition, then
# to the overall board.
GRAINS: tuple[Grain, ...] = (ROUND, COMPETITION, OVERALL)

MATCH_SUMMARIES = StatsRelation(
    MatchSummary._meta.db_table,
    ("match_id",),
    (*MatchSummary.SHOWN, "points_total", "points_counted"),
    Upkeep.BY_DIFFERENCE,
    ("refresh/differences.sql", "refresh/summaries.sql", "refresh/summary_averages.sql"),
    ("audit/stats_match_summary.sql",),
    model=MatchSummary,
)

# The latest round that counted in each competition (the round of its latest result among
# rounds with scored predictions); the overall board's is the latest of these. A board's
# movement is measured against it (Movement).
LATEST_ROUNDS = StatsRelation(
    "stats_latest_round",
    ("competition_id",),
    ("round", "match_id", "completed_at"),
    Upkeep.RECOMPUTED,
    ("refresh/latest_rounds.sql",),
    ("audit/latest_round.sql",),
)
MOVING_GRAINS: tuple[Grain, ...] = tuple(grain for grain in GRAINS if grain.movement)


def movement_of(grain: Grain) -> Movement:
    """The grain's movement (one of MOVING_GRAINS)."""
    assert grain.movement is not None, f"the {grain.name} boards have no movement"
    return grain.movement


def group_counts_of(grain: Grain) -> GroupCounts:
    """The grain's rows for large groups (one of MOVING_GRAINS: a group's boards are overall or
    in a competition, with movement)."""
    assert grain.groups is not None, f"groups have no {grain.name} boards"
    return grain.groups


# In the order the refresh brings them up to date: each from the ones before it.
STATS_RELATIONS: tuple[StatsRelation, ...] = (
    *(
        relation
        for grain in GRAINS
        for relation in (
            grain.totals,
            grain.counts,
            *((grain.groups.members, grain.groups.counts) if grain.groups else ()),
        )
    ),
    LATEST_ROUNDS,
    *(
        relation
        for grain in MOVING_GRAINS
        for relation in (movement_of(grain).counts, group_counts_of(grain).previous_counts)
    ),
    MATCH_SUMMARIES,
    *(grain.ranks for grain in GRAINS),
    *(movement_of(grain).ranks for grain in MOVING_GRAINS),
)
MATERIALIZED_VIEWS: tuple[StatsRelation, ...] = tuple(
    relation for relation in STATS_RELATIONS if relation.is_materialized_view
)

# The change log the writers' triggers fill and the refresh consumes (not statistics: a queue;
# refresh/consume_changes.sql reads it, refresh/rebuild_differences.sql empties it).
PREDICTION_CHANGES = "stats_prediction_change"
MATCH_CHANGES = "stats_match_change"
CHANGE_LOG: tuple[str, ...] = (PREDICTION_CHANGES, MATCH_CHANGES)


def relation_definition(relation: StatsRelation) -> sql.Composable:
    """The relation from scratch: its audit files (relation.audit_sql), each wrapping the one
    before as `totals`, with its board's key filled in (`grain` as the match's columns, `board`
    as the relation's, `partition` for a window over each board)."""
    board = [sql.Identifier(name) for name in relation.board_key]
    parts = {
        "grain": sql.SQL("").join(sql.SQL("m.{}, ").format(name) for name in board),
        "board": sql.SQL("").join(sql.SQL("{}, ").format(name) for name in board),
        "partition": sql.SQL("PARTITION BY {} ").format(sql.SQL(", ").join(board))
        if board
        else sql.SQL(""),
    }
    definition: sql.Composable = sql.SQL("")
    for name in relation.audit_sql:
        definition = sql.SQL(load_sql(name).strip().rstrip(";")).format(totals=definition, **parts)
    return definition


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

"""The refresh engine: consumes the change log, moves totals and counts by their difference,
refreshes the rank views. Owner of stats/sql/refresh/ and of the log the writers' triggers fill
(stats_prediction_change, stats_match_change: see docs/architecture.md, "The statistics").

One refresh is one REPEATABLE READ transaction under a transaction-level advisory lock (it holds
nothing between transactions, so it works through PgBouncer's transaction pooling): the log it
consumes and the predictions it reads are one snapshot, and every board commits at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from django.conf import settings
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.db.utils import OperationalError
from django.utils import timezone
from psycopg import errors, sql

from stats.exceptions import ViewNotRefreshable
from stats.jobs import refresh_running_since
from stats.models import ViewRefresh
from stats.relations import (
    GRAINS,
    LATEST_ROUNDS,
    MATCH_SUMMARIES,
    MOVING_GRAINS,
    STATS_RELATIONS,
    Grain,
    StatsRelation,
    group_counts_of,
    movement_of,
    relation_definition,
    relation_problem,
    relation_states,
)
from stats.sql import load_sql

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class RefreshStep:
    """One step of a refresh: the relation it brought up to date (or the log it consumed)."""

    name: str
    duration_ms: int


CHANGES_STEP = "changes consumed"
DIFFERENCES_STEP = "differences"
# The path a refresh took, the first step it reports: by difference (the log's rows moved one by
# one), or a recount (a rebuild: asked for, a TRUNCATE logged, or a log too long to move).
BY_DIFFERENCE_STEP = "path: by difference"
RECOUNT_STEP = "path: recount"


def stats_refresh() -> list[RefreshStep]:
    """Bring every statistics relation up to date with the changes logged since the last refresh.

    The predictions a logged change names are counted under their match's state; only a match
    whose state changed has its predictions read. Each player's difference moves their round,
    competition and overall totals, the count of their old group by -1 and of their new one by
    +1, and each rank view whose counts moved is refreshed CONCURRENTLY. After a TRUNCATE of the
    league's tables the refresh recounts everything (stats_rebuild).
    """
    return _run_locked(lambda cursor: _bring_up_to_date(cursor, everything=False))


def stats_rebuild() -> list[RefreshStep]:
    """Recompute every statistics relation from the predictions, writing only what differs;
    safe while workers run (it takes the refresh's lock, and consumes the log it covers)."""
    return _run_locked(lambda cursor: _bring_up_to_date(cursor, everything=True))


# --- The lock ----------------------------------------------------------------------------------

# One lock serialises refresh and rebuild, held by the refresh's own transaction. A REPEATABLE
# READ snapshot is taken by the transaction's first query, so the lock is *tried* there: a
# refresh that finds it taken waits for it in a transaction of its own, then starts afresh, and
# its snapshot sees everything the previous holder committed. (The trigger on group memberships,
# migration 0016, takes the same key.)
_LOCK_KEY = "hashtextextended('stats refresh', 0)"
_TRY_LOCK_SQL = f"SELECT pg_try_advisory_xact_lock({_LOCK_KEY})"
WAIT_LOCK_SQL = f"SELECT pg_advisory_xact_lock({_LOCK_KEY})"
# A holder that committed between this snapshot and this lock shows as a serialization failure
# on the rows it consumed or wrote: start again, a few times.
_ATTEMPTS = 5


def _run_locked(work: Callable[[CursorWrapper], T]) -> T:
    _refuse_broken_relations()
    if connection.in_atomic_block:
        # Inside a caller's transaction (a test): its snapshot rules, and it holds the lock.
        with transaction.atomic(), connection.cursor() as cursor:
            _bound_lock_waits(cursor)
            cursor.execute(WAIT_LOCK_SQL)
            return work(cursor)
    deadline = time.monotonic() + settings.STATS_REFRESH_LOCK_TIMEOUT
    for attempt in range(_ATTEMPTS):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cursor.execute(_TRY_LOCK_SQL)
                if cursor.fetchone()[0]:
                    _bound_lock_waits(cursor)
                    return work(cursor)
        except OperationalError as exc:
            if not isinstance(exc.__cause__, errors.SerializationFailure) or (
                attempt == _ATTEMPTS - 1
            ):
                raise
            logger.info("the stats refresh started before the previous one committed; again")
            continue
        with transaction.atomic(), connection.cursor() as cursor:
            remaining = max(deadline - time.monotonic(), 0.001)
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{remaining:.3f}s"])
            cursor.execute(WAIT_LOCK_SQL)  # released at once: the next attempt tries again
    raise OperationalError("the stats refresh lock stayed busy through every attempt")


def _bound_lock_waits(cursor: CursorWrapper) -> None:
    cursor.execute(
        "SELECT set_config('lock_timeout', %s, true)", [f"{settings.STATS_REFRESH_LOCK_TIMEOUT}s"]
    )


def _refuse_broken_relations() -> None:
    with connection.cursor() as cursor:
        states = relation_states(cursor, [relation.name for relation in STATS_RELATIONS])
    for relation in STATS_RELATIONS:
        problem = relation_problem(relation, states.get(relation.name))
        if problem is not None:
            raise ViewNotRefreshable(
                f"the statistics cannot be refreshed: {problem}. "
                "Run `manage.py migrate` and `manage.py check --database default`."
            )


# --- The steps ---------------------------------------------------------------------------------


def _bring_up_to_date(cursor: CursorWrapper, *, everything: bool) -> list[RefreshStep]:
    # One refresh runs at a time: its aggregates may use more memory than a request's. No JIT:
    # its steps' plans probe indexes per moved player, which the planner costs as if they were
    # scans of millions of rows; compiling for that cost took longer than the steps themselves.
    cursor.execute("SELECT set_config('work_mem', '64MB', true), set_config('jit', 'off', true)")
    # The snapshot's start, not the end: writes committed after it may be missing.
    refreshed_at = timezone.now()
    steps: list[RefreshStep] = []

    def step(name: str, statement: str | sql.Composable | None) -> bool:
        """Run one step (None: nothing to do); its answer (the last statement's boolean), False
        when it has none."""
        started = time.perf_counter()
        answer = False
        if statement is not None:
            if isinstance(statement, sql.Composable):
                statement = statement.as_string(cursor.connection)
            cursor.execute(statement)
            while cursor.nextset():  # psycopg starts at the first statement's result
                pass
            answer = bool(cursor.description) and bool(cursor.fetchone()[0])
        steps.append(RefreshStep(name, round((time.perf_counter() - started) * 1000)))
        return answer

    started = time.perf_counter()
    if not everything and _recount_costs_less(cursor):
        everything = True
    path_ms = round((time.perf_counter() - started) * 1000)
    if not everything and step(CHANGES_STEP, load_sql("refresh/consume_changes.sql")):
        everything = True  # a TRUNCATE was logged: nothing short of a recount is right
    steps.insert(0, RefreshStep(RECOUNT_STEP if everything else BY_DIFFERENCE_STEP, path_ms))
    if everything:
        step(
            DIFFERENCES_STEP,
            sql.SQL(load_sql("refresh/rebuild_differences.sql")).format(
                fresh_summaries=relation_definition(MATCH_SUMMARIES)
            ),
        )
    else:
        step(DIFFERENCES_STEP, load_sql("refresh/differences.sql"))

    moved: dict[str, bool] = {}
    for grain in GRAINS:
        names = _grain_names(grain)
        step(
            grain.totals.name,
            sql.SQL(load_sql("refresh/totals.sql")).format(
                difference=_grain_difference(grain, everything=everything),
                index_joins=sql.SQL("") if everything else _INDEX_JOINS,
                keep_now=_keep_now(grain, everything=everything),
                **names,
            ),
        )
        counts = "refresh/recount.sql" if everything else "refresh/counts.sql"
        moved[grain.name] = step(grain.counts.name, sql.SQL(load_sql(counts)).format(**names))
        if grain.groups is not None:
            _move_group_counts(step, grain, everything=everything)
    previous_moved = _move_previous_counts(step, everything=everything)
    step(MATCH_SUMMARIES.name, load_sql("refresh/summaries.sql"))
    if everything:
        cursor.execute(load_sql("refresh/summary_averages.sql"))
    for grain in GRAINS:
        # Unchanged counts leave the view as it is: no need to recompute it.
        refresh = sql.SQL("REFRESH MATERIALIZED VIEW CONCURRENTLY {}").format(
            sql.Identifier(grain.ranks.name)
        )
        step(grain.ranks.name, refresh if moved[grain.name] else None)
    for grain in MOVING_GRAINS:
        ranks = movement_of(grain).ranks
        refresh = sql.SQL("REFRESH MATERIALIZED VIEW CONCURRENTLY {}").format(
            sql.Identifier(ranks.name)
        )
        step(ranks.name, refresh if previous_moved[grain.name] else None)
    # One statement for every relation's stamp (a row each, upserted). An update_or_create per
    # relation is four round trips each (savepoint, select, update, release), for twenty-odd
    # relations: 30-50 ms of every refresh on a full season, measured.
    relation_names = {relation.name for relation in STATS_RELATIONS}
    stamps = {
        done.name: ViewRefresh(
            view_name=done.name, refreshed_at=refreshed_at, duration_ms=done.duration_ms
        )
        for done in steps
        if done.name in relation_names
    }
    ViewRefresh.objects.bulk_create(
        stamps.values(),
        update_conflicts=True,
        unique_fields=["view_name"],
        update_fields=["refreshed_at", "duration_ms"],
    )
    for done in steps:
        logger.info("%s refreshed in %dms", done.name, done.duration_ms)
    return steps


# --- Movement: the previous counts ---------------------------------------------------------------


def _move_previous_counts(
    step: Callable[[str, str | sql.Composable | None], bool], *, everything: bool
) -> dict[str, bool]:
    """After the totals moved: the latest round of each board, then each board's previous counts
    (players per group of their totals less their row of the board's latest round), moved by
    difference as the counts are, or recounted by a rebuild. Whether each grain's moved."""
    step(LATEST_ROUNDS.name, load_sql("refresh/latest_rounds.sql"))
    moved = {}
    for grain in MOVING_GRAINS:
        names = _movement_names(grain)
        if everything:
            previous = load_sql("refresh/previous_recount.sql")
            counts = sql.SQL(load_sql("refresh/recount.sql")).format(
                **{**names, "totals": sql.Identifier("stats_previous_total")}
            )
        else:
            previous = load_sql("refresh/previous_moved.sql")
            counts = sql.SQL(load_sql("refresh/counts.sql")).format(**names)
        statement = sql.SQL("\n").join([sql.SQL(previous).format(**names), counts])
        moved[grain.name] = step(movement_of(grain).counts.name, statement)
        _move_group_previous_counts(step, grain, everything=everything)
    return moved


# --- Large groups: their members' rows and counts -----------------------------------------------

# The kept groups' members with their standing on a board, recomputed by a rebuild from `totals`
# (the grain's totals, or a rebuild's previous totals, stats_previous_total).
_KEPT_MEMBERS = """
SELECT ms.group_id, {board_t} t.user_id, t.total_points, t.exact_scores
FROM {totals} AS t
JOIN stats_groupmembership AS ms ON ms.user_id = t.user_id
JOIN stats_playergroup AS g ON g.id = ms.group_id
WHERE g.counts_kept
"""
_COUNTED = """
SELECT group_id, {board} total_points, exact_scores, count(*)::integer AS players
FROM ({members}) AS members GROUP BY group_id, {board} total_points, exact_scores
"""


def _move_group_counts(
    step: Callable[[str, str | sql.Composable | None], bool], grain: Grain, *, everything: bool
) -> None:
    """After a grain's totals moved (stats_moved): its kept groups' member rows and counts,
    moved for the moved players in those groups, or recomputed by a rebuild."""
    groups = group_counts_of(grain)
    names = _group_names(grain)
    if everything:
        members = sql.SQL(_KEPT_MEMBERS).format(totals=sql.Identifier(grain.totals.name), **names)
        step(groups.members.name, _group_recount(groups.members, members))
        counted = sql.SQL(_COUNTED).format(
            members=sql.SQL("SELECT * FROM {}").format(sql.Identifier(groups.members.name)),
            **names,
        )
        step(groups.counts.name, _group_recount(groups.counts, counted))
        return
    moved = sql.SQL(load_sql("refresh/group_moved.sql"))
    for relation, template, target in (
        (groups.members, "refresh/group_members.sql", "members"),
        (groups.counts, "refresh/group_counts.sql", "counts"),
    ):
        statement = sql.SQL(load_sql(template)).format(
            **{**names, target: sql.Identifier(relation.name)}
        )
        step(relation.name, sql.SQL("\n").join([moved, statement]))


def _move_group_previous_counts(
    step: Callable[[str, str | sql.Composable | None], bool], grain: Grain, *, everything: bool
) -> None:
    """After a grain's previous counts moved (stats_moved of previous_moved.sql) or were
    recounted (stats_previous_total of previous_recount.sql): its kept groups' previous counts."""
    relation = group_counts_of(grain).previous_counts
    names = _group_names(grain)
    if everything:
        members = sql.SQL(_KEPT_MEMBERS).format(
            totals=sql.Identifier("stats_previous_total"), **names
        )
        step(
            relation.name,
            _group_recount(relation, sql.SQL(_COUNTED).format(members=members, **names)),
        )
        return
    statement = sql.SQL(load_sql("refresh/group_counts.sql")).format(
        **{**names, "counts": sql.Identifier(relation.name)}
    )
    step(
        relation.name, sql.SQL("\n").join([sql.SQL(load_sql("refresh/group_moved.sql")), statement])
    )


def _group_names(grain: Grain) -> dict[str, sql.Composable]:
    """The identifiers the group templates (group_members.sql, group_counts.sql) and the
    rebuild's recomputations name."""
    return {
        "board": sql.SQL("").join(
            sql.SQL("{}, ").format(sql.Identifier(name)) for name in grain.board_key
        ),
        "board_t": sql.SQL("").join(
            sql.SQL("t.{}, ").format(sql.Identifier(name)) for name in grain.board_key
        ),
        "board_joined": sql.SQL("").join(
            sql.SQL("c.{0} = m.{0} AND ").format(sql.Identifier(name)) for name in grain.board_key
        ),
    }


def _group_recount(relation: StatsRelation, recomputed: sql.Composable) -> sql.Composable:
    """group_recount.sql composed for one group relation and its recomputation."""
    values = [sql.Identifier(name) for name in relation.values]
    return sql.SQL(load_sql("refresh/group_recount.sql")).format(
        recomputed=recomputed,
        relation=sql.Identifier(relation.name),
        columns=_columns(relation.columns),
        key=_columns(relation.key),
        matched=sql.SQL("").join(
            sql.SQL("s.{0} = r.{0} AND ").format(sql.Identifier(name)) for name in relation.key
        ),
        values=sql.SQL(", ").join(values),
        stored=sql.SQL(", ").join(sql.SQL("r.{}").format(value) for value in values),
        excluded=sql.SQL(", ").join(sql.SQL("excluded.{}").format(value) for value in values),
    )


def _movement_names(grain: Grain) -> dict[str, sql.Composable]:
    """The identifiers previous_moved.sql, previous_recount.sql, and counts.sql and recount.sql
    composed for the previous counts, name."""
    names = {
        **_grain_names(grain),
        "counts": sql.Identifier(movement_of(grain).counts.name),
        "now_totals": _now_totals(grain),
    }

    def latest(table: str) -> sql.Composable:
        # A competition's board: its own row; the overall board: the latest of them all.
        if grain.board_key:
            return sql.SQL(
                "SELECT competition_id, competition_id AS latest_competition_id,"
                " round AS latest_round FROM {}"
            ).format(sql.Identifier(table))
        return sql.SQL(
            "SELECT competition_id AS latest_competition_id, round AS latest_round FROM {}"
            " ORDER BY completed_at DESC, match_id DESC LIMIT 1"
        ).format(sql.Identifier(table))

    # previous_moved.sql's aliases, then previous_recount.sql's (nl, t)
    pairs = [
        ("n", "w"),
        ("b", "d"),
        ("t", "d"),
        ("nt", "d"),
        ("b", "t"),
        ("rw", "p"),
        ("rn", "p"),
        ("nl", "t"),
    ]
    for left, right in pairs:
        names[f"board_{left}_{right}"] = sql.SQL("").join(
            sql.SQL("{0}.{1} = {2}.{1} AND ").format(
                sql.Identifier(left), sql.Identifier(name), sql.Identifier(right)
            )
            for name in grain.board_key
        )
    for alias in ("t", "b", "d", "p"):
        names[f"board_{alias}"] = sql.SQL("").join(
            sql.SQL("{}.{}, ").format(sql.Identifier(alias), sql.Identifier(name))
            for name in grain.board_key
        )
    for left, right in [("w", "n"), ("t", "d")]:  # the board's key from whichever has it
        names[f"board_{left}_or_{right}"] = sql.SQL("").join(
            sql.SQL("coalesce({0}.{2}, {1}.{2}) AS {2}, ").format(
                sql.Identifier(left), sql.Identifier(right), sql.Identifier(name)
            )
            for name in grain.board_key
        )
    names["was_latest"] = latest("stats_latest_was")
    names["now_latest"] = latest("stats_latest_now")
    return names


def _recount_costs_less(cursor: CursorWrapper) -> bool:
    """Whether the log is long enough that a recount (which reads the league once) costs less
    than moving the statistics by each change: STATS_RECOUNT_LEAGUE_SHARE of the predictions,
    and at least STATS_RECOUNT_MIN_ROWS (docs/scaling.md, "A burst of results")."""
    cursor.execute(
        load_sql("refresh/recount_or_not.sql"),
        {
            "league_share": settings.STATS_RECOUNT_LEAGUE_SHARE,
            "minimum_rows": settings.STATS_RECOUNT_MIN_ROWS,
        },
    )
    recount, rows, limit = cursor.fetchone()
    if recount:
        logger.info("about %d rows to move by difference, over %d: recounting", rows, limit)
    return bool(recount)


def _columns(names: tuple[str, ...], prefix: str = "") -> sql.Composable:
    return sql.SQL(", ").join(sql.SQL(prefix) + sql.Identifier(name) for name in names)


def _grain_names(grain: Grain) -> dict[str, sql.Composable]:
    """The identifiers the grain templates (totals.sql, counts.sql, recount.sql) name."""

    def matched(left: str, right: str, names: tuple[str, ...]) -> sql.Composable:
        return sql.SQL("").join(
            sql.SQL("{0}.{1} = {2}.{1} AND ").format(
                sql.Identifier(left), sql.Identifier(name), sql.Identifier(right)
            )
            for name in names
        )

    board = sql.SQL("").join(
        sql.SQL("{}, ").format(sql.Identifier(name)) for name in grain.board_key
    )
    key = grain.totals.key
    return {
        "totals": sql.Identifier(grain.totals.name),
        "counts": sql.Identifier(grain.counts.name),
        "key": _columns(key),
        "board": board,
        "joined": sql.SQL("{} TRUE").format(matched("t", "d", key)),
        "moved_joined": matched("t", "m", key),
        "board_joined": matched("c", "left_group", grain.board_key)
        if grain.board_key
        else sql.SQL(""),
        "board_matched": matched("t", "c", grain.board_key),
    }


# totals.sql, by difference: the moved players' rows through the key's index (see there).
_INDEX_JOINS = sql.SQL("SET LOCAL enable_hashjoin = off;\nSET LOCAL enable_mergejoin = off;")
# totals.sql, by difference on a board with movement: the moved players' totals now, which
# previous_moved.sql reads instead of probing the totals' index for each of them again.
_KEEP_NOW = sql.SQL(
    "DROP TABLE IF EXISTS pg_temp.{now_totals};\n"
    "CREATE TEMP TABLE {now_totals} ON COMMIT DROP AS"
    " SELECT {key}, now_points, now_exact FROM stats_moved"
)


def _now_totals(grain: Grain) -> sql.Identifier:
    return sql.Identifier(f"stats_{grain.name}_now")


def _keep_now(grain: Grain, *, everything: bool) -> sql.Composable:
    """totals.sql's `keep_now`: only a refresh by difference reads it (previous_moved.sql), and
    only on a board with movement."""
    if everything or not grain.movement:
        return sql.SQL("")
    return _KEEP_NOW.format(now_totals=_now_totals(grain), key=_columns(grain.totals.key))


_SUMS = sql.SQL(
    "sum(total_points)::integer AS total_points, "
    "sum(predictions_scored)::integer AS predictions_scored, "
    "sum(exact_scores)::integer AS exact_scores, "
    "sum(correct_outcomes)::integer AS correct_outcomes"
)
_NONZERO = sql.SQL(
    "HAVING (sum(total_points), sum(predictions_scored), sum(exact_scores), "
    "sum(correct_outcomes)) <> (0, 0, 0, 0)"
)


def _grain_difference(grain: Grain, *, everything: bool) -> sql.Composable:
    """The grain's difference per player: the round differences rolled up to it, or (a rebuild)
    its recomputation from the predictions minus what is stored."""
    key = _columns(grain.totals.key)
    if not everything:
        return sql.SQL(
            "SELECT {key}, {sums} FROM stats_round_difference GROUP BY {key} {nz}"
        ).format(key=key, sums=_SUMS, nz=_NONZERO)
    return sql.SQL(
        "SELECT {key}, {sums} FROM ("
        "SELECT {key}, total_points, predictions_scored, exact_scores, correct_outcomes"
        " FROM ({fresh}) AS fresh"
        " UNION ALL SELECT {key}, -total_points, -predictions_scored, -exact_scores,"
        " -correct_outcomes FROM {totals}"
        ") AS change GROUP BY {key} {nz}"
    ).format(
        key=key,
        sums=_SUMS,
        fresh=relation_definition(grain.totals),
        totals=sql.Identifier(grain.totals.name),
        nz=_NONZERO,
    )


# --- What is waiting ---------------------------------------------------------------------------


def pending_changes() -> tuple[int, datetime | None]:
    """Changes logged and not refreshed yet: how many rows, and when the newest was logged."""
    with connection.cursor() as cursor:
        cursor.execute(load_sql("refresh/pending_changes.sql"))
        count, newest = cursor.fetchone()
    return int(count), newest


# Scoring stamps points_calculated_at as the last step before its transaction commits (a few
# ms); a refresh that started in between would look fresher than it is, so the sweep allows
# this much slack. More would make every burst cost an extra refresh.
STAMP_TO_COMMIT_SLACK_SECONDS = 5


def stats_behind_writes() -> bool:
    """Whether some write was logged after the refresh running now started (it will not cover
    it), or at all when none runs: then a refresh is needed."""
    _, newest = pending_changes()
    if newest is None:
        return False
    running_since = refresh_running_since()
    if running_since is None:
        return True
    return bool((newest - running_since).total_seconds() > -STAMP_TO_COMMIT_SLACK_SECONDS)

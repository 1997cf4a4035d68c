"""From-scratch oracles: compare what the jobs did with what they should have done.

One module for `rebuild_stats --check`, the tests, bench/ and the load test. Each statistics
relation has its from-scratch definition in stats/sql/audit/ (its `audit_sql`), written from the
predictions alone (never from the totals the refresh keeps), and is compared row by row, in SQL,
with what is stored. Points are compared with the Python reference (stats/scoring.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.db import connection
from psycopg import sql

from stats.models import Match
from stats.relations import STATS_RELATIONS, StatsRelation, relation_definition
from stats.scoring import PointTiers, prediction_points
from stats.sql import load_sql


@dataclass(frozen=True)
class Difference:
    """One row that differs: stored, recomputed, or both (None when the row is missing)."""

    relation: str
    key: dict[str, Any]
    stored: dict[str, Any] | None
    recomputed: dict[str, Any] | None

    def __str__(self) -> str:
        key = ", ".join(f"{name}={value}" for name, value in self.key.items())
        if self.stored is None:
            return f"{self.relation} ({key}): missing, recomputed {self.recomputed}"
        if self.recomputed is None:
            return f"{self.relation} ({key}): stored {self.stored}, recomputed: no such row"
        changed = ", ".join(
            f"{name} {self.stored.get(name)} vs {value}"
            for name, value in self.recomputed.items()
            if self.stored.get(name) != value
        )
        return f"{self.relation} ({key}): stored vs recomputed: {changed}"


@dataclass(frozen=True)
class RelationAudit:
    relation: str
    rows: int
    differences: int
    first_differences: list[Difference]


def relation_columns(relation: StatsRelation) -> list[str]:
    """The relation's columns a reader sees (not the admin's text `id`)."""
    return list(relation.columns)


def relation_audit(
    relation: StatsRelation, *, show: int = 20, cursor: Any | None = None
) -> RelationAudit:
    """Compare a relation with its from-scratch definition; list the first `show` differences.

    On Django's connection, or on `cursor` (any psycopg cursor, e.g. to a private server).
    """
    if cursor is None:
        with connection.cursor() as own:
            return relation_audit(relation, show=show, cursor=own)
    columns = relation_columns(relation)
    key = sql.SQL(" AND ").join(
        sql.SQL("stored.{0} = fresh.{0}").format(sql.Identifier(name)) for name in relation.key
    )
    query = sql.SQL(
        """
        WITH fresh AS MATERIALIZED ({definition}),
             stored AS MATERIALIZED (SELECT {columns} FROM {table})
        SELECT to_jsonb(stored)::text, to_jsonb(fresh)::text, count(*) OVER (),
               (SELECT count(*) FROM stored)
        FROM stored FULL JOIN fresh ON {key}
        WHERE to_jsonb(stored) IS DISTINCT FROM to_jsonb(fresh)
        ORDER BY {order}
        LIMIT %s
        """
    ).format(
        definition=relation_definition(relation),
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
        table=sql.Identifier(relation.name),
        key=key,
        order=sql.SQL(", ").join(
            sql.SQL("coalesce(stored.{0}, fresh.{0})").format(sql.Identifier(name))
            for name in relation.key
        ),
    )
    # At least one row, which carries the count of every difference.
    cursor.execute(query.as_string(cursor.connection), [max(show, 1)])
    found = cursor.fetchall()
    if found:
        differences, rows = found[0][2], found[0][3]
    else:
        count = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(relation.name))
        cursor.execute(count.as_string(cursor.connection))
        differences, rows = 0, cursor.fetchone()[0]
    listed = []
    for stored_text, fresh_text, _, _ in found[:show]:
        stored, fresh = _row(stored_text, columns), _row(fresh_text, columns)
        row = stored or fresh or {}
        listed.append(
            Difference(
                relation=relation.name,
                key={name: row[name] for name in relation.key},
                stored=stored,
                recomputed=fresh,
            )
        )
    return RelationAudit(relation.name, int(rows), int(differences), listed)


def _row(text: str | None, columns: list[str]) -> dict[str, Any] | None:
    """A row as JSON text, back to a dict in the relation's column order."""
    if text is None:
        return None
    values = json.loads(text)
    return {column: values[column] for column in columns}


def stats_audit(*, show: int = 20, cursor: Any | None = None) -> list[RelationAudit]:
    """Every statistics relation compared with its from-scratch definition."""
    return [relation_audit(relation, show=show, cursor=cursor) for relation in STATS_RELATIONS]


def stats_differences(*, show: int = 20, cursor: Any | None = None) -> list[Difference]:
    """The first differences of every relation; empty when every one is exactly right."""
    return [
        difference
        for audit in stats_audit(show=show, cursor=cursor)
        for difference in audit.first_differences
    ]


@dataclass(frozen=True)
class WrongPoints:
    checked: int
    wrong: list[tuple[int, int | None, int | None]]  # (prediction id, stored, expected)


def wrong_points(*, cursor: Any | None = None) -> WrongPoints:
    """Predictions whose points are not what the Python reference gives for their match's current
    result (NULL unless completed); reads in chunks, so it fits any league."""
    if cursor is None:
        with connection.chunked_cursor() as own:
            return wrong_points(cursor=own)
    tiers = PointTiers.from_settings()
    checked, wrong = 0, []
    cursor.execute(
        "SELECT p.id, p.home_score, p.away_score, p.points, m.status, m.home_score,"
        " m.away_score FROM stats_prediction AS p JOIN stats_match AS m ON m.id = p.match_id"
    )
    while rows := cursor.fetchmany(50_000):
        for pk, home, away, points, status, result_home, result_away in rows:
            checked += 1
            result = (result_home, result_away) if status == Match.Status.COMPLETED else None
            expected = prediction_points((home, away), result, tiers)
            if points != expected:
                wrong.append((pk, points, expected))
    return WrongPoints(checked, wrong)


def stats_all_right(*, cursor: Any | None = None) -> bool:
    """Every prediction's points and every statistics relation exactly as recomputed now."""
    return not wrong_points(cursor=cursor).wrong and not stats_differences(show=1, cursor=cursor)


def overlapping_job_runs(*, task_name: str) -> int:
    """How many pairs of runs of `task_name` with the same arguments overlapped in time."""
    with connection.cursor() as cursor:
        cursor.execute(load_sql("overlapping_job_runs.sql"), {"task_name": task_name})
        return int(cursor.fetchone()[0])

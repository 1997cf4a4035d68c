from __future__ import annotations

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection
from psycopg import sql

from stats.checks import check_stats_views
from stats.relations import COMPETITION, GRAINS, OVERALL, STATS_RELATIONS, StatsRelation
from tests.support.factories import rolled_back

pytestmark = pytest.mark.django_db

HINT = "Re-create it with the SQL of its migration in stats/sql/migrations/."
RELATION_IDS = [relation.name for relation in STATS_RELATIONS]

# Every unique index of every table and materialized view, with its columns in order.
UNIQUE_INDEXES_SQL = """
SELECT view.relname, index.relname, array_agg(attribute.attname ORDER BY key.position)
FROM pg_index AS i
JOIN pg_class AS view ON view.oid = i.indrelid
JOIN pg_class AS index ON index.oid = i.indexrelid
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS key(attnum, position)
JOIN pg_attribute AS attribute
    ON attribute.attrelid = view.oid AND attribute.attnum = key.attnum
WHERE view.relkind IN ('m', 'r') AND view.relname = ANY(%s)
  AND i.indisunique AND i.indisvalid AND i.indpred IS NULL
GROUP BY view.relname, index.relname
"""


def _execute(statement: sql.Composable | str) -> None:
    with connection.cursor() as cursor:
        if isinstance(statement, sql.Composable):
            statement = statement.as_string(cursor.connection)
        cursor.execute(statement)


def test_every_relation_exists_with_its_unique_index_after_migrate() -> None:
    """migrate creates each of STATS_RELATIONS with a unique index on exactly its key columns
    (what REFRESH ... CONCURRENTLY needs, and what keys each table)."""
    with connection.cursor() as cursor:
        cursor.execute(UNIQUE_INDEXES_SQL, [RELATION_IDS])
        unique_indexes = {view: (index, tuple(columns)) for view, index, columns in cursor}
    assert unique_indexes == {
        relation.name: (f"{relation.name}_key", relation.key) for relation in STATS_RELATIONS
    }


def test_check_passes_on_a_migrated_database() -> None:
    """The system check finds nothing wrong after migrate."""
    assert check_stats_views(databases=["default"]) == []


def test_check_without_databases_inspects_nothing() -> None:
    """Like Django's own database checks, the check looks at no database unless asked to."""
    with rolled_back():
        _execute(f"DROP MATERIALIZED VIEW {OVERALL.ranks.name}")
        assert check_stats_views(databases=None) == []


def _kind(relation: StatsRelation) -> str:
    return "materialized view" if relation.is_materialized_view else "table"


@pytest.mark.parametrize("relation", STATS_RELATIONS, ids=RELATION_IDS)
def test_check_reports_dropped_relation(relation: StatsRelation) -> None:
    """A dropped relation is a stats.E002 error naming it (and, dropped with CASCADE, the rank
    view built on a table of counts)."""
    with rolled_back():
        _execute(
            sql.SQL("DROP {} {} CASCADE").format(
                sql.SQL(_kind(relation).upper()), sql.Identifier(relation.name)
            )
        )
        errors = check_stats_views(databases=["default"])
    lost = [grain.ranks for grain in GRAINS if relation is grain.counts] + [
        grain.movement.ranks
        for grain in GRAINS
        if grain.movement is not None and relation is grain.movement.counts
    ]
    assert errors == [
        checks.Error(f"{_kind(gone)} {gone.name} does not exist", hint=HINT, id="stats.E002")
        for gone in STATS_RELATIONS
        if gone is relation or gone in lost
    ]
    assert check_stats_views(databases=["default"]) == []


@pytest.mark.parametrize("relation", STATS_RELATIONS, ids=RELATION_IDS)
def test_check_reports_dropped_unique_index(relation: StatsRelation) -> None:
    """A relation without its unique index is a stats.E002 error naming it and its key."""
    key = sql.Identifier(f"{relation.name}_key")
    with rolled_back():
        if relation.is_materialized_view:
            _execute(sql.SQL("DROP INDEX {}").format(key))
        else:
            _execute(
                sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                    sql.Identifier(relation.name), key
                )
            )
        errors = check_stats_views(databases=["default"])
    why = ", so it cannot be refreshed concurrently" if relation.is_materialized_view else ""
    assert errors == [
        checks.Error(
            f"{_kind(relation)} {relation.name} has no unique index on "
            f"({', '.join(relation.key)}){why}",
            hint=HINT,
            id="stats.E002",
        )
    ]
    assert check_stats_views(databases=["default"]) == []


def test_check_rejects_partial_unique_index() -> None:
    """A partial unique index does not cover every row, so it does not count."""
    with rolled_back():
        _execute("DROP INDEX stats_overall_rank_key")
        _execute(
            "CREATE UNIQUE INDEX stats_overall_rank_partial"
            " ON stats_overall_rank (total_points, exact_scores) WHERE players > 1"
        )
        errors = check_stats_views(databases=["default"])
    assert [(error.id, error.msg) for error in errors] == [
        (
            "stats.E002",
            "materialized view stats_overall_rank has no unique index on "
            "(total_points, exact_scores), so it cannot be refreshed concurrently",
        )
    ]


def test_dropping_a_column_the_views_read_is_reported() -> None:
    """A column dropped with CASCADE (what Django's schema editor does) silently drops the
    view built on it; the check turns that into a stats.E002 error naming the lost view."""
    with rolled_back():
        _execute(
            sql.SQL("ALTER TABLE {} DROP COLUMN players CASCADE").format(
                sql.Identifier(COMPETITION.counts.name)
            )
        )
        errors = check_stats_views(databases=["default"])
    assert errors == [
        checks.Error(
            f"materialized view {COMPETITION.ranks.name} does not exist",
            hint=HINT,
            id="stats.E002",
        )
    ]


def test_manage_py_check_fails_on_a_missing_relation() -> None:
    """`manage.py check --database default` fails loudly when a relation is missing."""
    with rolled_back():
        _execute("DROP TABLE stats_match_summary")
        with pytest.raises(SystemCheckError, match=r"stats\.E002.*stats_match_summary"):
            call_command("check", databases=["default"], tags=["database"])
    call_command("check", databases=["default"], tags=["database"])

"""stats/sql/schema.sql and the migrations build the same database.

In the migrated test database, inside a transaction that is rolled back: read the whole public
schema from the catalogs, drop every object we own, run schema.sql, read it again, and compare.
What counts as ours is not a list (a list would miss the object a new migration adds): it is
everything in the public schema that neither Django's models nor Procrastinate's migrations
created.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection
from django.db.backends.utils import CursorWrapper

from stats.relations import STATS_RELATIONS
from stats.sql import load_sql
from tests.support.factories import rolled_back

pytestmark = pytest.mark.django_db

# Functions not created by an extension; aggregates have no pg_get_functiondef.
FUNCTIONS_SQL = r"""
SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid)
FROM pg_proc AS p
WHERE p.pronamespace = 'public'::regnamespace AND p.prokind IN ('f', 'p')
  AND NOT EXISTS (
      SELECT 1 FROM pg_depend AS d
      WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  )
"""

# Tables, materialized views, views and sequences, each with its columns in order and, for a
# view, its query as PostgreSQL reads it back.
RELATIONS_SQL = r"""
SELECT c.relkind::text || ' ' || c.relname,
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) ELSE '' END
       || E'\n' || coalesce(string_agg(
           format('%s %s%s%s %s', a.attname, format_type(a.atttypid, a.atttypmod),
                  CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
                  CASE WHEN a.attgenerated = 's' THEN ' GENERATED' ELSE '' END,
                  coalesce(pg_get_expr(def.adbin, def.adrelid), '')),
           E'\n' ORDER BY a.attnum), '')
FROM pg_class AS c
LEFT JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef AS def ON def.adrelid = c.oid AND def.adnum = a.attnum
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'm', 'v', 'S')
GROUP BY c.oid, c.relkind, c.relname
"""

CONSTRAINTS_SQL = """
SELECT conrelid::regclass::text || '.' || conname, pg_get_constraintdef(oid)
FROM pg_constraint
WHERE connamespace = 'public'::regnamespace
"""

INDEXES_SQL = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"

TRIGGERS_SQL = """
SELECT tgrelid::regclass::text || '.' || tgname, pg_get_triggerdef(oid) || ' ' || tgenabled::text
FROM pg_trigger
WHERE NOT tgisinternal
"""


def catalog(cursor: CursorWrapper) -> dict[str, str]:
    """Every object of the public schema, named by its kind and name, with its definition."""
    objects = {}
    for kind, query in [
        ("function", FUNCTIONS_SQL),
        ("relation", RELATIONS_SQL),
        ("constraint", CONSTRAINTS_SQL),
        ("index", INDEXES_SQL),
        ("trigger", TRIGGERS_SQL),
    ]:
        cursor.execute(query)
        objects.update({f"{kind} {name}": definition for name, definition in cursor.fetchall()})
    return objects


def not_ours() -> set[str]:
    """The tables Django's models create, and Django's own migration history."""
    tables = {"django_migrations"}
    for model in apps.get_models(include_auto_created=True):
        if model._meta.managed and not model._meta.proxy:
            tables.add(model._meta.db_table)
    return tables


def drop_our_objects(cursor: CursorWrapper) -> list[str]:
    """Drop every object we own (triggers go with their functions) and name what was dropped."""
    others = sorted(not_ours())
    cursor.execute(
        r"""
        SELECT relkind, oid::regclass::text FROM pg_class
        WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p', 'm', 'v', 'S')
          AND relname NOT LIKE 'procrastinate\_%%' AND NOT relname = ANY(%s)
          -- a sequence owned by a column goes with its table
          AND NOT EXISTS (
              SELECT 1 FROM pg_depend
              WHERE classid = 'pg_class'::regclass AND objid = pg_class.oid
                AND deptype IN ('a', 'i')
          )
        ORDER BY relkind = 'r', relname
        """,
        [others],
    )
    relations = cursor.fetchall()
    cursor.execute(FUNCTIONS_SQL + r"AND p.proname NOT LIKE 'procrastinate\_%' ORDER BY 1")
    functions = [signature for signature, _ in cursor.fetchall()]
    # Ours on Procrastinate's tables: each of Procrastinate's indexes names it, ours do not.
    # (An index of ours on a Django table would need its own rule here; there is none.)
    cursor.execute(
        r"""
        SELECT indexname FROM pg_indexes
        WHERE schemaname = 'public' AND tablename LIKE 'procrastinate\_%'
          AND indexname NOT LIKE '%procrastinate\_%'
        ORDER BY indexname
        """
    )
    indexes = [name for (name,) in cursor.fetchall()]

    kinds = {"m": "MATERIALIZED VIEW", "v": "VIEW", "r": "TABLE", "p": "TABLE", "S": "SEQUENCE"}
    for relkind, name in relations:
        cursor.execute(f"DROP {kinds[relkind]} IF EXISTS {name} CASCADE")
    for signature in functions:
        cursor.execute(f"DROP FUNCTION {signature} CASCADE")
    for name in indexes:
        cursor.execute(f"DROP INDEX {name}")
    return [name for _, name in relations] + functions + indexes


def schema_differences(schema_sql: str) -> dict[str, tuple[str | None, str | None]]:
    """What differs, object by object (migrated, then from `schema_sql`), when our objects are
    built by `schema_sql` instead of the migrations. Changes nothing."""
    with rolled_back(), connection.cursor() as cursor:
        migrated = catalog(cursor)
        dropped = drop_our_objects(cursor)
        assert {relation.name for relation in STATS_RELATIONS} <= set(dropped)
        cursor.execute(schema_sql)
        rebuilt = catalog(cursor)
    return {
        name: (migrated.get(name), rebuilt.get(name))
        for name in sorted(migrated.keys() | rebuilt.keys())
        if migrated.get(name) != rebuilt.get(name)
    }


def test_schema_sql_builds_what_the_migrations_built() -> None:
    """Every function, trigger, table, view, column, constraint and index of the public schema
    is the same when schema.sql builds our objects as when the migrations did."""
    assert schema_differences(load_sql("schema.sql")) == {}


def test_a_schema_sql_that_misses_or_alters_an_object_is_caught() -> None:
    """The comparison sees an object left out and a function body changed."""
    schema_sql = load_sql("schema.sql")
    index = (
        "CREATE INDEX stats_failed_job_events_at\n"
        "    ON procrastinate_events (at) WHERE type = 'failed';"
    )
    assert index in schema_sql
    assert "        ELSE 0\n" in schema_sql
    damaged = schema_sql.replace(index, "").replace("        ELSE 0\n", "        ELSE 1\n")

    differences = schema_differences(damaged)

    assert sorted(differences) == [
        "function stats_prediction_points(integer,integer,integer,integer,integer,integer,integer)",
        "index stats_failed_job_events_at",
    ]
    assert differences["index stats_failed_job_events_at"][1] is None

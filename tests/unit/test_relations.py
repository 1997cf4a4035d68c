"""The relations registry names the SQL files that write and define each relation."""

from __future__ import annotations

from pathlib import Path

from stats.relations import STATS_RELATIONS

SQL = Path(__file__).resolve().parents[2] / "stats" / "sql"


def test_every_relation_names_sql_files_that_exist() -> None:
    named = [name for relation in STATS_RELATIONS for name in relation.refresh_sql]
    assert [name for name in named if not (SQL / name).is_file()] == []
    audit = [name for relation in STATS_RELATIONS for name in relation.audit_sql]
    assert [name for name in audit if not (SQL / name).is_file()] == []


def test_only_materialized_views_have_no_refresh_file() -> None:
    assert {r.name for r in STATS_RELATIONS if not r.refresh_sql} == {
        r.name for r in STATS_RELATIONS if r.is_materialized_view
    }

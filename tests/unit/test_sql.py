"""stats/sql: each refresh file opens with the temporary tables it reads and creates, and says
the truth; the public reads' statements are given PostgreSQL's own placeholders."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from stats.sql import native_placeholders

REFRESH = Path(__file__).resolve().parents[2] / "stats" / "sql" / "refresh"
HEADER = re.compile(r"-- Temp tables: reads (?P<reads>[\w, ]+); creates (?P<creates>[\w, ]+)\.\n")


def names(listed: str) -> set[str]:
    return set() if listed == "none" else set(listed.split(", "))


def created(text: str) -> set[str]:
    return set(re.findall(r"CREATE TEMP TABLE (\w+)", text))


ALL_TEMP_TABLES = set().union(*(created(path.read_text()) for path in REFRESH.glob("*.sql")))


@pytest.mark.parametrize("path", sorted(REFRESH.glob("*.sql")), ids=lambda path: path.name)
def test_a_refresh_file_names_the_temp_tables_it_reads_and_creates(path: Path) -> None:
    text = path.read_text()
    header = HEADER.match(text)
    assert header is not None, f"{path.name} does not open with its temp tables"
    mentioned = {
        name for name in ALL_TEMP_TABLES if re.search(rf"\b{name}\b", text[header.end() :])
    }
    assert names(header["creates"]) == created(text)
    assert names(header["reads"]) == mentioned - created(text)


def test_native_placeholders_number_each_name_once_in_order_of_first_use() -> None:
    text, params = native_placeholders(
        "SELECT %(b)s, %(a)s, %(b)s, 5 %% 2 -- %(a)s", {"a": 1, "b": 2, "unused": 3}
    )
    assert text == "SELECT $1, $2, $1, 5 % 2 -- $2"
    assert params == [2, 1]


def test_native_placeholders_number_positional_ones_in_turn() -> None:
    assert native_placeholders("SELECT %s, %s", (7, 8)) == ("SELECT $1, $2", [7, 8])


@pytest.mark.parametrize(
    ("query", "params", "error"),
    [
        ("SELECT %(a)s, %s", {"a": 1}, ValueError),
        ("SELECT %(a)s", [1], TypeError),
        ("SELECT %(a)s", {"b": 1}, KeyError),
    ],
)
def test_native_placeholders_refuse_what_psycopg_would(
    query: str, params: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        native_placeholders(query, params)

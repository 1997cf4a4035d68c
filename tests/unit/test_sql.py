"""stats/sql: each refresh file opens with the temporary tables it reads and creates, and says
the truth."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

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

"""SQL kept in .sql files beside this module, loaded by name."""

from __future__ import annotations

import functools
from importlib import resources


@functools.cache
def load_sql(name: str) -> str:
    """The text of `stats/sql/<name>`, e.g. `load_sql("score_match.sql")`."""
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")

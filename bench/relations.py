"""The statistics relations as the code under measurement names them (stats/relations.py), read
defensively: the benchmark measures the design of the day, whichever names it uses, and reports
what it could not find rather than failing on a renamed relation."""

from __future__ import annotations

import importlib
from typing import Any

from stats import relations


def relation(*candidates: str) -> Any:
    """The first of stats.relations' names that exists (a StatsRelation), or None."""
    for name in candidates:
        found = getattr(relations, name, None)
        if found is not None:
            return found
    return None


def all_relations() -> tuple[Any, ...]:
    return tuple(getattr(relations, "STATS_RELATIONS", ()))


def materialized_view_names() -> list[str]:
    """The relations refreshed CONCURRENTLY by the refresh: the ranked boards in the old design,
    the count views in the new one."""
    return [r.name for r in all_relations() if getattr(r, "is_materialized_view", False)]


def overall_totals_name() -> str:
    """A relation with one row per player and their overall total_points (the overall board in
    the old design, the per-player totals table in the new one)."""
    grain = relation("OVERALL")  # the counts design: a grain with its totals table
    if grain is not None and hasattr(grain, "totals"):
        return str(grain.totals.name)
    found = relation("USER_TOTALS", "OVERALL_TOTALS", "OVERALL_BOARD")
    return str(found.name) if found is not None else "stats_user_total"


def refresh_functions() -> tuple[Any, Any]:
    """(stats_refresh, stats_rebuild): from the refresh engine's own module when it has one
    (stats/refresh.py), else from stats/services.py. Each returns its steps (name, duration_ms)."""
    return _engine("stats_refresh"), _engine("stats_rebuild")


def _engine(name: str) -> Any:
    """A function of the refresh engine, wherever the code under measurement keeps it."""
    for module_name in ("stats.refresh", "stats.services"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        found = getattr(module, name, None)
        if found is not None:
            return found
    raise RuntimeError(f"no {name}() in stats.refresh or stats.services")


def stats_behind_writes() -> bool:
    return bool(_engine("stats_behind_writes")())


def stats_refresh() -> list[Any]:
    return list(refresh_functions()[0]() or [])


def stats_rebuild() -> list[Any]:
    return list(refresh_functions()[1]() or [])


def steps_ms(steps: list[Any]) -> dict[str, float]:
    """Each refresh step's name and duration (ms), as the refresh reports them."""
    return {str(step.name): float(step.duration_ms) for step in steps}

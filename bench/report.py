"""The targets each run is checked against, the printed table, and the JSON files."""

from __future__ import annotations

import datetime as dt
import json
import operator
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Target:
    """A figure of the run compared with a limit, both taken from the results."""

    figure: str
    wanted: str  # how the table states the target
    value: Callable[[dict[str, Any]], float | None]
    limit: Callable[[dict[str, Any]], float | None]
    holds_when: Callable[[float, float], bool]


def _key(name: str) -> Callable[[dict[str, Any]], float | None]:
    return lambda results: results.get(name)


def _times(factor: float, name: str) -> Callable[[dict[str, Any]], float | None]:
    def limit(results: dict[str, Any]) -> float | None:
        value = results.get(name)
        return None if value is None else factor * value

    return limit


def _constant(limit: float) -> Callable[[dict[str, Any]], float | None]:
    return lambda results: limit


def _full_season(name: str) -> Callable[[dict[str, Any]], float | None]:
    return lambda results: (results.get("full_season") or {}).get(name)


def _group_p99(members: int) -> Callable[[dict[str, Any]], float | None]:
    def value(results: dict[str, Any]) -> float | None:
        group = ((results.get("group_boards") or {}).get("groups") or {}).get(str(members))
        return None if group is None else group["read_p99_ms"]

    return value


def _put_vs_floor(results: dict[str, Any]) -> float | None:
    return (results.get("put_predictions") or {}).get("put_vs_floor")


def _no_limit(results: dict[str, Any]) -> float | None:
    return None


def after_result_vs_raw(results: dict[str, Any]) -> float | None:
    """(scoring + refresh) / the bare UPDATE: the whole work one result causes, on its floor."""
    points, refresh, raw = (
        results.get(key) for key in ("points_ms", "refresh_after_result_ms", "points_raw_sql_ms")
    )
    if points is None or refresh is None or not raw:
        return None
    return round(float(points + refresh) / float(raw), 3)


TARGETS: tuple[Target, ...] = (
    Target("points_vs_raw_sql", "<= 2.0", _key("points_vs_raw_sql"), _constant(2.0), operator.le),
    Target(
        "after_result_vs_raw",
        "<= 2.5",
        _key("after_result_vs_raw"),
        _constant(2.5),
        operator.le,
    ),
    Target(
        "completion_to_boards_p50_ms",
        "<= 3.5 x points_raw_sql_ms",
        _key("completion_to_boards_p50_ms"),
        _times(3.5, "points_raw_sql_ms"),
        operator.le,
    ),
    Target(
        "completion_to_boards_p50_ms (absolute)",
        "<= 250 ms (20,000 players, quiet machine)",
        _key("completion_to_boards_p50_ms"),
        _constant(250),
        operator.le,
    ),
    Target("naive_vs_points", ">= 30", _key("naive_vs_points"), _constant(30), operator.ge),
    Target(
        "rescore_unchanged_ms",
        "<= 0.05 x points_ms",
        _key("rescore_unchanged_ms"),
        _times(0.05, "points_ms"),
        operator.le,
    ),
    Target(
        "refresh_vs_full_rebuild",
        "<= 0.1",
        _key("refresh_vs_full_rebuild"),
        _constant(0.1),
        operator.le,
    ),
    Target(
        "refresh_growth_4x_season",
        "<= 1.1 (median of the pairs)",
        _key("refresh_growth_4x_season"),
        _constant(1.1),
        operator.le,
    ),
    Target(
        "full_season.refresh_vs_full_rebuild",
        "<= 0.05 (20,000 x 380)",
        _full_season("refresh_vs_full_rebuild"),
        _constant(0.05),
        operator.le,
    ),
    Target(
        "read_max_ms_during_refresh",
        "<= 100 ms",
        _key("read_max_ms_during_refresh"),
        _constant(100),
        operator.le,
    ),
    Target(
        "read_p99_ms_during_refresh",
        "<= 3 x read_p99_ms_idle",
        _key("read_p99_ms_during_refresh"),
        _times(3, "read_p99_ms_idle"),
        operator.le,
    ),
    Target(
        "queue_overhead_ratio",
        "<= 1.3",
        _key("queue_overhead_ratio"),
        _constant(1.3),
        operator.le,
    ),
    Target("refreshes_for_burst", "= 1", _key("refreshes_for_burst"), _constant(1), operator.eq),
    Target(
        "group_boards.5000.read_p99_ms",
        "<= 20 ms",
        _group_p99(5_000),
        _constant(20),
        operator.le,
    ),
    Target(
        "group_boards.100000.read_p99_ms",
        "<= 50 ms",
        _group_p99(100_000),
        _constant(50),
        operator.le,
    ),
    # Issue 22 asks for the ratio; it sets no limit.
    Target(
        "put_predictions.put_vs_floor",
        "reported (PUT requests/s / 404 requests/s)",
        _put_vs_floor,
        _no_limit,
        operator.ge,
    ),
)


def targets_check(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target with the run's value, its limit, and whether it holds (None: not measured)."""
    checked = {}
    for target in TARGETS:
        value, limit = target.value(results), target.limit(results)
        holds = None if value is None or limit is None else target.holds_when(value, limit)
        checked[target.figure] = {
            "target": target.wanted,
            "value": value,
            "limit": None if limit is None else round(limit, 3),
            "holds": holds,
        }
    return checked


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"


def targets_table(checked: dict[str, dict[str, Any]]) -> str:
    """A Markdown table of the targets: it prints well and pastes into the README as it is."""
    lines = [
        "| figure | target | value | limit | holds |",
        "|---|---|---:|---:|---|",
    ]
    for figure, check in checked.items():
        holds = {True: "yes", False: "**NO**", None: "not measured"}[check["holds"]]
        if check["holds"] is None and check["value"] is not None:
            holds = "reported"
        lines.append(
            f"| `{figure}` | {check['target']} | {_number(check['value'])} | "
            f"{_number(check['limit'])} | {holds} |"
        )
    return "\n".join(lines)


def results_write(results: dict[str, Any], *, name: str = "latest") -> list[Path]:
    """Write `<name>.json` and a dated copy beside it; return both paths."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(results, indent=2) + "\n"
    paths = [RESULTS_DIR / f"{name}.json", RESULTS_DIR / f"{name}-{stamp}.json"]
    for path in paths:
        path.write_text(text, encoding="utf-8")
    return paths

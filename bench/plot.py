"""scaling.png: how scoring and refresh times grow with the league, each beside its raw-SQL line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on a server or in CI

import matplotlib.pyplot as plt


def sweep_plot(runs: list[dict[str, Any]], path: Path) -> Path:
    """Scoring time against predictions per match; refresh time against total predictions."""
    runs = sorted(runs, key=lambda run: run["scale"]["predictions"])
    per_match = [run["scale"]["users"] for run in runs]
    figure, (scoring, refresh) = plt.subplots(1, 2, figsize=(12, 4.8))

    scoring.plot(per_match, [run["points_ms"] for run in runs], "o-", label="scoring service")
    scoring.plot(
        per_match, [run["points_raw_sql_ms"] for run in runs], "s--", label="raw UPDATE (limit)"
    )
    scoring.plot(
        per_match, [run["rescore_unchanged_ms"] for run in runs], "^:", label="re-score, unchanged"
    )
    scoring.set_title("Scoring one match")
    scoring.set_xlabel("predictions per match")
    scoring.set_ylabel("ms (median)")

    # Runs of the old design (four views recomputed from every prediction) carry refresh_ms.
    for key, style, label in (
        ("refresh_after_result_ms", "o-", "refresh after one result"),
        ("full_rebuild_ms", "s--", "rebuild from scratch"),
        ("refresh_ms", "x:", "old design: four views recomputed"),
    ):
        points = [(run["scale"]["predictions"], run[key]) for run in runs if key in run]
        if points:
            refresh.plot(*zip(*points, strict=True), style, label=label)
    refresh.set_title("The statistics after one result")
    refresh.set_xlabel("predictions in the league")
    refresh.set_ylabel("ms (median)")

    for axes in (scoring, refresh):
        axes.set_xlim(left=0)
        axes.set_ylim(bottom=0)
        axes.grid(alpha=0.3)
        axes.legend()
        axes.ticklabel_format(axis="x", style="plain")
        axes.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:,.0f}"))
    figure.suptitle("matchday stats: cost against league size (one run per scale)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def scale_plot(runs: list[dict[str, Any]], path: Path) -> Path:
    """scale.png: the work after one result against its floor, and the reads, by players."""
    runs = sorted(runs, key=lambda run: run["scale"]["users"])
    players = [run["scale"]["users"] for run in runs]
    figure, (work, reads) = plt.subplots(1, 2, figsize=(12, 4.8))

    for key, style, label in (
        ("points_raw_sql_ms", "s--", "bare UPDATE of one match (floor)"),
        ("points_ms", "o-", "scoring service"),
        ("refresh_after_result_ms", "^-", "refresh after the result"),
        ("materialized_views_refresh_ms", "x:", "of which materialized views"),
        ("completion_to_boards_p50_ms", "d-.", "commit to boards (p50, worker)"),
    ):
        points = [(p, run[key]) for p, run in zip(players, runs, strict=True) if run.get(key)]
        if points:
            work.plot(*zip(*points, strict=True), style, label=label)
    work.set_title("One result: scoring and refresh against the bare UPDATE")
    work.set_ylabel("ms (median)")

    for kind, style in (("page_1", "o-"), ("deep_page", "s--"), ("player_stats", "^:")):
        points = [
            (p, run["reads_ms"][kind]["p99_ms"])
            for p, run in zip(players, runs, strict=True)
            if kind in run.get("reads_ms", {})
        ]
        if points:
            reads.plot(*zip(*points, strict=True), style, label=f"{kind} p99")
    reads.axhline(20, color="grey", linewidth=0.8, linestyle=":", label="target p99 20 ms")
    reads.set_title("Reads through the API (p99)")
    reads.set_ylabel("ms")

    for axes in (work, reads):
        axes.set_xscale("log")
        axes.set_xlabel("players (every one predicts every match)")
        axes.set_ylim(bottom=0)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
        axes.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:,.0f}"))
    figure.suptitle("matchday stats at scale: 40 matches, predictions in arrival order")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path

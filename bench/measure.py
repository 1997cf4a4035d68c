"""The measurements that need no worker: scoring, re-scoring, the refresh, the rebuild, reads.

Each figure is paired with its reference in the same run (raw SQL for the same work, the naive
ORM loop, the rebuild from scratch, idle reads), interleaved, so a busy shared machine shifts
both sides of a ratio alike.
"""

from __future__ import annotations

import functools
import math
import random
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.test import Client
from django.utils import timezone

from bench.generate import League
from bench.relations import (
    materialized_view_names,
    relation,
    stats_rebuild,
    stats_refresh,
    steps_ms,
)
from stats.models import Match, Prediction
from stats.scoring import PointTiers, prediction_points
from stats.services import match_score_predictions

Say = Callable[[str], None]

# The same work as the scoring service, written out by hand: one UPDATE, the tiers as a CASE.
RAW_SCORING_SQL = """
UPDATE stats_prediction
SET points = CASE
    WHEN home_score = %(home)s AND away_score = %(away)s THEN %(exact)s
    WHEN home_score - away_score = %(home)s - %(away)s THEN %(goal_difference)s
    WHEN sign(home_score - away_score) = sign(%(home)s - %(away)s) THEN %(outcome)s
    ELSE 0
END
WHERE match_id = %(match_id)s
"""


def elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def timed_ms(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return elapsed_ms(started)


def percentile(samples: list[float], percent: float) -> float:
    """The nearest-rank percentile: the smallest sample with `percent` % of samples at or below."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def rounded(value: float) -> float:
    return round(value, 3 if value < 10 else 1)


# --- Scoring -----------------------------------------------------------------------------------


def _is_superuser() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        return bool(cursor.fetchone()[0])


def _raw_scoring(match_id: int) -> None:
    """The floor: the bare UPDATE of the match's points and its commit, with no trigger firing
    (session_replication_role = replica, which needs a superuser; otherwise the triggers fire
    and the figure says so in `points_raw_sql_note`). The statistics never see these points:
    raw_scorings_hand_over() gives the matches to the service afterwards."""
    tiers = PointTiers.from_settings()
    home, away = Match.objects.filter(pk=match_id).values_list("home_score", "away_score").get()
    with transaction.atomic(), connection.cursor() as cursor:
        if _is_superuser():
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            RAW_SCORING_SQL,
            {
                "match_id": match_id,
                "home": home,
                "away": away,
                "exact": tiers.exact,
                "goal_difference": tiers.goal_difference,
                "outcome": tiers.outcome,
            },
        )


def raw_scorings_hand_over(match_ids: list[int]) -> None:
    """Undo the bare UPDATEs behind the triggers' back (points NULL again, as the statistics
    still believe), then score those matches with the service, untimed: the league is left
    as production would have it, and the statistics know every point."""
    with transaction.atomic(), connection.cursor() as cursor:
        if _is_superuser():
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            "UPDATE stats_prediction SET points = NULL WHERE match_id = ANY(%s)", [match_ids]
        )
    for match_id in match_ids:
        match_score_predictions(match_id=match_id)


def raw_sql_note() -> str:
    if _is_superuser():
        return "the bare UPDATE with no trigger firing (session_replication_role = replica)"
    return "the UPDATE with the triggers firing (not a superuser: they cannot be turned off)"


def _naive_scoring(match_id: int, limit: int | None) -> None:
    """How a first version scores a match: load each prediction, compute in Python, save() it.

    In one transaction (a per-row commit would only make it slower); `limit` takes the first
    predictions of the match when the whole match would take too long.
    """
    tiers = PointTiers.from_settings()
    with transaction.atomic():
        match = Match.objects.get(pk=match_id)
        if match.home_score is None or match.away_score is None:
            raise ValueError(f"match {match_id} has no result to score")
        result = (match.home_score, match.away_score)
        predictions = Prediction.objects.filter(match_id=match_id).order_by("id")
        for prediction in predictions[:limit] if limit else predictions:
            prediction.points = prediction_points(
                (prediction.home_score, prediction.away_score), result, tiers
            )
            prediction.save()


def scoring_measure(
    league: League, *, repetitions: int, naive_repetitions: int, naive_limit: int, say: Say
) -> dict[str, Any]:
    """points_ms, points_raw_sql_ms, naive_orm_ms, rescore_unchanged_ms and their ratios.

    Every scoring writes a match that was never scored (the league's reserved matches), so each
    repetition does the full work of a first scoring; the service and the raw UPDATE alternate
    which goes first.

    A round's predictions share their pages (see bench/generate.py), and the first write to a
    page after a checkpoint also logs the whole page: whichever scoring came first in a round
    would pay that for the others. So one reserved match per round is scored first, untimed.
    """
    reserved = list(league.reserved_match_ids)
    rounds = dict(Match.objects.filter(pk__in=reserved).values_list("pk", "round"))
    warm_up = list({rounds[match_id]: match_id for match_id in reversed(reserved)}.values())
    measured = [match_id for match_id in reserved if match_id not in warm_up]
    needed = 2 * repetitions + naive_repetitions
    if len(measured) < needed:
        raise ValueError(
            f"{needed} unscored matches are needed besides one per round, the league has "
            f"{len(measured)}"
        )
    service_matches = measured[0 : 2 * repetitions : 2]
    raw_matches = measured[1 : 2 * repetitions : 2]
    naive_matches = measured[2 * repetitions : needed]
    users = league.scale.users

    # Warm-up: the service's code path on a match already scored (it writes nothing), then the
    # first scoring of each round.
    match_score_predictions(match_id=league.scored_match_ids[0])
    for match_id in warm_up:
        match_score_predictions(match_id=match_id)
    service_ms: list[float] = []
    raw_ms: list[float] = []
    for index, (service_match, raw_match) in enumerate(
        zip(service_matches, raw_matches, strict=True)
    ):
        service = (service_ms, functools.partial(match_score_predictions, match_id=service_match))
        raw = (raw_ms, functools.partial(_raw_scoring, raw_match))
        for samples, action in (service, raw) if index % 2 == 0 else (raw, service):
            samples.append(timed_ms(action))
        say(
            f"  scoring {index + 1}/{repetitions}: service {service_ms[-1]:.1f} ms, "
            f"raw UPDATE {raw_ms[-1]:.1f} ms ({users:,} predictions each)"
        )

    # The bare UPDATE went behind the statistics' back: the service scores those matches again.
    raw_scorings_hand_over(raw_matches)

    naive_count = min(users, naive_limit)
    naive_ms: list[float] = []
    for index, naive_match in enumerate(naive_matches):
        naive_ms.append(timed_ms(functools.partial(_naive_scoring, naive_match, naive_count)))
        say(
            f"  naive ORM {index + 1}/{naive_repetitions}: {naive_ms[-1]:,.0f} ms "
            f"({naive_count:,} predictions)"
        )
        # Finish the match (and stamp it) so the league is left consistent.
        match_score_predictions(match_id=naive_match)

    for match_id in measured[needed:]:  # left over: scored so the league is left consistent
        match_score_predictions(match_id=match_id)

    rescore_ms: list[float] = []
    for index, service_match in enumerate(service_matches):
        rescore_ms.append(
            timed_ms(functools.partial(match_score_predictions, match_id=service_match))
        )
        say(f"  re-scoring unchanged {index + 1}/{repetitions}: {rescore_ms[-1]:.1f} ms")

    points_ms, raw_sql_ms, rescore = median(service_ms), median(raw_ms), median(rescore_ms)
    # Per prediction, so a naive run on part of a match compares with a whole-match scoring.
    naive_per_prediction = median(naive_ms) / naive_count
    naive_note = (
        f"measured on the whole of an equivalent match ({naive_count:,} predictions)"
        if naive_count == users
        else f"measured on {naive_count:,} of the {users:,} predictions of an equivalent match "
        "(the whole match would take too long); naive_orm_ms is that time scaled to the whole "
        "match, and naive_vs_points compares the time per prediction"
    )
    return {
        "points_ms": rounded(points_ms),
        "points_raw_sql_ms": rounded(raw_sql_ms),
        "points_vs_raw_sql": round(points_ms / raw_sql_ms, 3),
        "points_raw_sql_note": raw_sql_note(),
        "naive_orm_ms": rounded(naive_per_prediction * users),
        "naive_orm_predictions": naive_count,
        "naive_orm_note": naive_note
        + "; one transaction around the loop (a commit per save() would be slower still)",
        "naive_vs_points": round(naive_per_prediction / (points_ms / users), 1),
        "rescore_unchanged_ms": rounded(rescore),
        "rescore_unchanged_vs_points": round(rescore / points_ms, 3),
        "samples": {
            "points_ms": [rounded(x) for x in service_ms],
            "points_raw_sql_ms": [rounded(x) for x in raw_ms],
            "naive_orm_ms": [rounded(x) for x in naive_ms],
            "rescore_unchanged_ms": [rounded(x) for x in rescore_ms],
        },
    }


# --- The view refresh ---------------------------------------------------------------------------


def _wal_position() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        position: str = cursor.fetchone()[0]
    return position


def _wal_mb_since(position: str) -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)", [position])
        return float(cursor.fetchone()[0]) / 1e6


def result_correct(match_id: int) -> None:
    """Correct a completed match's result (one more home goal) and re-score it: its points change.

    A queryset update, not save(): the benchmark scores it itself, no job is queued.
    """
    Match.objects.filter(pk=match_id).update(
        home_score=F("home_score") + 1, completed_at=timezone.now()
    )
    match_score_predictions(match_id=match_id)


def _touched_board_rows(match_id: int) -> int | None:
    """Rows of the boards one result touches in the old design (its round's board, its
    competition's board, the overall board, and its summary); None when those relations are
    not there (the counts design touches only the totals of the match's predictors)."""
    round_boards = relation("ROUND_BOARDS")
    competition_boards = relation("COMPETITION_BOARDS")
    overall = relation("OVERALL_BOARD")
    if None in (round_boards, competition_boards, overall) or not all(
        r.name.endswith("leaderboard") for r in (round_boards, competition_boards, overall)
    ):
        return None
    competition_id, round_number = (
        Match.objects.filter(pk=match_id).values_list("competition_id", "round").get()
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT count(*) FROM {round_boards.name}"
            "         WHERE competition_id = %(competition)s AND round = %(round)s)"
            f"     + (SELECT count(*) FROM {competition_boards.name}"
            "         WHERE competition_id = %(competition)s)"
            f"     + (SELECT count(*) FROM {overall.name}) + 1",
            {"competition": competition_id, "round": round_number},
        )
        return int(cursor.fetchone()[0])


def _floor_ms(match_id: int) -> float | None:
    """The floor under a refresh after one result in the old design: rank and rewrite the rows
    it touches, nothing else (the touched round re-ranked into a scratch table, the two boards
    refreshed plainly, which rewrites them whole without comparing), rolled back. None when
    those relations are not there."""
    round_boards = relation("ROUND_BOARDS")
    boards = [relation("COMPETITION_BOARDS"), relation("OVERALL_BOARD")]
    if round_boards is None or None in boards or not all(b.is_materialized_view for b in boards):
        return None
    competition_id, round_number = (
        Match.objects.filter(pk=match_id).values_list("competition_id", "round").get()
    )
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE bench_floor ON COMMIT DROP AS SELECT *, rank() OVER ("
            "ORDER BY total_points DESC, exact_scores DESC) AS new_rank, row_number() OVER ("
            "ORDER BY total_points DESC, exact_scores DESC, user_id) AS new_position"
            f" FROM {round_boards.name} WHERE competition_id = %s AND round = %s",
            [competition_id, round_number],
        )
        for view in boards:
            cursor.execute(f"REFRESH MATERIALIZED VIEW {view.name}")
        transaction.set_rollback(True)
    return elapsed_ms(started)


def refresh_measure(
    league: League, *, repetitions: int, say: Say, first: int = 0
) -> dict[str, Any]:
    """refresh_after_result_ms (stats_refresh() after one result's points changed), step by step,
    against full_rebuild_ms (stats_rebuild(): every relation from the predictions), interleaved;
    and the cost per row of the boards one result touches, beside the floor of ranking and
    rewriting that many rows."""
    say("  catching the statistics up with the scorings above")
    stats_refresh()
    refresh_runs: list[dict[str, float]] = []
    rebuild_runs: list[float] = []
    floor_runs: list[float] = []
    touched_rows: int | None = None
    for index in range(repetitions):
        match_id = league.scored_match_ids[(first + index) % len(league.scored_match_ids)]
        result_correct(match_id)
        wal_before = _wal_position()
        started = time.perf_counter()
        steps = stats_refresh()
        total = elapsed_ms(started)
        refresh_runs.append(
            {"total": total, "wal_mb": _wal_mb_since(wal_before), **steps_ms(steps)}
        )
        touched_rows = _touched_board_rows(match_id)
        floor = _floor_ms(match_id)
        if floor is not None:
            floor_runs.append(floor)
        rebuild_runs.append(timed_ms(stats_rebuild))
        say(
            f"  refresh after a result {index + 1}/{repetitions}: {total:,.0f} ms"
            + (f" ({touched_rows:,} board rows touched)" if touched_rows else "")
            + (f", floor {floor:,.0f} ms" if floor is not None else "")
            + f"; full rebuild {rebuild_runs[-1]:,.0f} ms"
        )
    refresh_ms = median([run["total"] for run in refresh_runs])
    rebuild_ms = median(rebuild_runs)
    by_step = {
        name: rounded(median([run.get(name, 0.0) for run in refresh_runs]))
        for name in refresh_runs[0]
        if name not in ("total", "wal_mb")
    }
    views = materialized_view_names()
    results: dict[str, Any] = {
        "refresh_after_result_ms": rounded(refresh_ms),
        "full_rebuild_ms": rounded(rebuild_ms),
        "refresh_vs_full_rebuild": round(refresh_ms / rebuild_ms, 3),
        "refresh_by_step_ms": by_step,
        "materialized_views_refresh_ms": rounded(
            sum(ms for name, ms in by_step.items() if name in views)
        ),
        "materialized_views": views,
        "touched_board_rows": touched_rows,
        "refresh_note": "stats_refresh() after one completed match's result was corrected and "
        "re-scored, step by step as the refresh reports them; materialized_views_refresh_ms is "
        "the steps that refresh the materialized views (CONCURRENTLY): the ranked boards in "
        "the old design, the count views in the new one",
        "samples": {
            "refresh_after_result_ms": [rounded(run["total"]) for run in refresh_runs],
            # WAL each refresh wrote: it follows the rows the corrected result moved (one
            # correction moves a few thousand players, another all of them) and the pages
            # written whole because a checkpoint began since they were last touched.
            "refresh_wal_mb": [rounded(run["wal_mb"]) for run in refresh_runs],
            "full_rebuild_ms": [rounded(x) for x in rebuild_runs],
        },
    }
    if touched_rows:
        results["refresh_us_per_touched_row"] = round(refresh_ms * 1000 / touched_rows, 2)
    if floor_runs:
        floor_ms = median(floor_runs)
        results["floor_ms"] = rounded(floor_ms)
        results["samples"]["floor_ms"] = [rounded(x) for x in floor_runs]
        if touched_rows:
            results["floor_us_per_touched_row"] = round(floor_ms * 1000 / touched_rows, 2)
        results["floor_note"] = (
            "the old design's floor: the touched round re-ranked into a scratch table and both "
            "ranked boards refreshed plainly, rolled back"
        )
    return results


# --- Reads -------------------------------------------------------------------------------------

PAGE_SIZE = 50


@dataclass
class Reader:
    """The reads a league's visitors make: leaderboard pages (mostly the first few, sometimes a
    deep one), a competition's board, and one user's totals and ranks."""

    league: League
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    client: Client = field(default_factory=Client)
    _count: int = 0

    def read(self) -> tuple[str, float]:
        """One read: what was read, and its time in ms. They rotate: overall board page,
        competition board page, a user's stats; a page is one of the first 5, or 1 in 5 times
        a random one."""
        kind, self._count = self._count % 3, self._count + 1
        users = self.league.scale.users
        pages = max(1, math.ceil(users / PAGE_SIZE))
        page = self.rng.randint(1, pages) if self.rng.random() < 0.2 else self.rng.randint(1, 5)
        page = min(page, pages)
        competition = self.rng.choice(self.league.competition_slugs)
        user_id = self.rng.randint(*self.league.user_ids)
        label = ("board", "competition_board", "user_stats")[kind]
        if kind < 2:
            label += "_first_pages" if page <= 5 else "_deep_page"
        started = time.perf_counter()
        self._read_api(kind, page, competition, user_id)
        return label, elapsed_ms(started)

    def _read_api(self, kind: int, page: int, competition: str, user_id: int) -> None:
        if kind == 0:
            url = f"/api/leaderboard?page={page}&page_size={PAGE_SIZE}"
        elif kind == 1:
            url = f"/api/leaderboard?competition={competition}&page={page}&page_size={PAGE_SIZE}"
        else:
            url = f"/api/users/{user_id}/stats"
        response = self.client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}: {response.content!r}")


def reads_measure(
    league: League, *, idle_reads: int, refresh_repetitions: int, say: Say
) -> dict[str, Any]:
    """Read latencies idle, then while a refresh runs in another thread with its own connection."""
    reader = Reader(league)
    for _ in range(20):  # warm-up: URL resolver, prepared plans, caches
        reader.read()
    idle_reads_done = [reader.read() for _ in range(idle_reads)]
    idle = [ms for _, ms in idle_reads_done]
    say(
        f"  idle: {len(idle)} reads, p50 {percentile(idle, 50):.1f} ms, "
        f"p99 {percentile(idle, 99):.1f} ms"
    )
    during_reads: list[tuple[str, float]] = []
    refreshing = threading.Event()
    finished = threading.Event()
    errors: list[BaseException] = []

    def refresh_loop() -> None:
        try:
            for index in range(refresh_repetitions):
                result_correct(league.scored_match_ids[-1 - index % len(league.scored_match_ids)])
                refreshing.set()
                started = time.perf_counter()
                stats_refresh()
                refreshing.clear()
                say(
                    f"  refresh {index + 1}/{refresh_repetitions} in the background: "
                    f"{elapsed_ms(started):,.0f} ms, {len(during_reads)} reads so far"
                )
        except BaseException as exc:  # re-raised in the main thread
            errors.append(exc)
        finally:
            refreshing.clear()
            finished.set()
            connection.close()

    thread = threading.Thread(target=refresh_loop, name="bench-refresh", daemon=True)
    thread.start()
    while not finished.is_set():
        if refreshing.is_set():
            sample = reader.read()
            if refreshing.is_set():
                during_reads.append(sample)
        else:
            time.sleep(0.001)
    thread.join()
    if errors:
        raise errors[0]
    during = [ms for _, ms in during_reads]
    if not during:
        raise RuntimeError("no read ran while a refresh was running; the refresh is too quick")
    say(
        f"  during refresh: {len(during)} reads, p99 {percentile(during, 99):.1f} ms, "
        f"max {max(during):.1f} ms"
    )
    return {
        "read_p50_ms_idle": rounded(percentile(idle, 50)),
        "read_p99_ms_idle": rounded(percentile(idle, 99)),
        "read_p99_ms_during_refresh": rounded(percentile(during, 99)),
        "read_max_ms_during_refresh": rounded(max(during)),
        "read_p50_ms_during_refresh": rounded(percentile(during, 50)),
        "read_samples": {"idle": len(idle), "during_refresh": len(during)},
        "reads_by_kind_ms": {
            "idle": _by_kind(idle_reads_done),
            "during_refresh": _by_kind(during_reads),
        },
        "slowest_reads_during_refresh_ms": [
            [label, rounded(ms)] for label, ms in sorted(during_reads, key=lambda r: -r[1])[:5]
        ],
        "read_note": (
            "GET /api/leaderboard (overall and per competition, page size 50, mostly the first "
            "5 pages, 1 in 5 a random deeper page) and GET /api/users/<id>/stats, in turn, "
            "through Django's test Client; the refresh runs in another thread with its own "
            "database connection"
        ),
    }


def _by_kind(reads: list[tuple[str, float]]) -> dict[str, dict[str, float]]:
    kinds: dict[str, list[float]] = {}
    for label, ms in reads:
        kinds.setdefault(label, []).append(ms)
    return {
        label: {
            "reads": len(samples),
            "p50": rounded(percentile(samples, 50)),
            "p99": rounded(percentile(samples, 99)),
            "max": rounded(max(samples)),
        }
        for label, samples in sorted(kinds.items())
    }

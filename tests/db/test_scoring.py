from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pytest_django.fixtures import Settings

from stats.exceptions import MatchNotFound
from stats.jobs import REFRESH_STATS_VIEWS
from stats.models import Competition, Match, Prediction, Team
from stats.scoring import PointTiers, prediction_points
from stats.services import MatchScoring, match_score_predictions, match_score_then_refresh
from tests.support.factories import complete, make_match, make_prediction, make_user, rolled_back
from tests.support.jobs import jobs_of
from tests.support.scoring import DEFAULT_TIERS, TRUTH_TABLE

pytestmark = pytest.mark.django_db


def _points(match: Match) -> list[int | None]:
    return list(match.predictions.order_by("id").values_list("points", flat=True))


def _row_versions(match: Match) -> list[str]:
    """The physical address of each prediction row: any UPDATE, even a no-op, changes it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ctid::text FROM stats_prediction WHERE match_id = %s ORDER BY id", [match.pk]
        )
        return [ctid for (ctid,) in cursor.fetchall()]


def _predict(match: Match, scores: list[tuple[int, int]]) -> list[Prediction]:
    return [make_prediction(make_user(), match, home, away) for home, away in scores]


# --- the truth table, through the database ----------------------------------------------------


@pytest.mark.parametrize(
    ("predicted", "result", "points"), [case for case in TRUTH_TABLE if case[1] is not None]
)
def test_sql_scoring_truth_table(
    predicted: tuple[int, int], result: tuple[int, int], points: int
) -> None:
    """The service gives each prediction the highest tier that applies, as the Python
    reference does: exact 3, goal difference 2 (a draw as another draw too), outcome 1, else 0."""
    match = make_match()
    _predict(match, [predicted])
    complete(match, *result)
    match_score_predictions(match_id=match.pk)
    assert _points(match) == [points]
    assert prediction_points(predicted, result, DEFAULT_TIERS) == points


def test_all_predictions_of_a_match_scored_in_one_call() -> None:
    """One call scores every prediction of the match and only that match."""
    match, other = make_match(), make_match()
    _predict(match, [(2, 1), (3, 2), (3, 0), (0, 0), (0, 1)])
    _predict(other, [(0, 0)])
    complete(match, 2, 1)
    complete(other, 0, 0)
    result = match_score_predictions(match_id=match.pk)
    assert result == MatchScoring(match.pk, Match.Status.COMPLETED, 5, True)
    assert _points(match) == [3, 2, 1, 0, 0]
    assert _points(other) == [None]


def test_tiers_are_read_at_call_time(settings: Settings) -> None:
    """Changed STATS_POINTS_* settings take effect on the next scoring, without a restart."""
    settings.STATS_POINTS_EXACT = 10
    settings.STATS_POINTS_GOAL_DIFFERENCE = 5
    settings.STATS_POINTS_OUTCOME = 2
    match = make_match()
    _predict(match, [(2, 1), (3, 2), (3, 0), (0, 1)])
    complete(match, 2, 1)
    match_score_predictions(match_id=match.pk)
    assert _points(match) == [10, 5, 2, 0]


# --- SQL == Python, on random predictions -----------------------------------------------------

SCORE = st.integers(min_value=0, max_value=9)
TIERS = st.builds(
    PointTiers,
    exact=st.integers(min_value=0, max_value=50),
    goal_difference=st.integers(min_value=0, max_value=50),
    outcome=st.integers(min_value=0, max_value=50),
)


def _scored_in_sql(
    result: tuple[int, int], predictions: list[tuple[int, int]], tiers: PointTiers
) -> list[int | None]:
    """Points the service gives `predictions` of a match ending `result`; nothing is kept."""
    with (
        rolled_back(),
        override_settings(
            STATS_POINTS_EXACT=tiers.exact,
            STATS_POINTS_GOAL_DIFFERENCE=tiers.goal_difference,
            STATS_POINTS_OUTCOME=tiers.outcome,
        ),
    ):
        home, away = Team.objects.bulk_create([Team(name="Home"), Team(name="Away")])
        match = Match.objects.create(
            competition=Competition.objects.create(name="Random", slug="random"),
            round=1,
            home_team=home,
            away_team=away,
            kickoff_at=timezone.now() + timedelta(hours=1),
        )
        users = User.objects.bulk_create(
            [User(username=f"random{index}") for index in range(len(predictions))]
        )
        Prediction.objects.bulk_create(
            Prediction(user=user, match=match, home_score=home_score, away_score=away_score)
            for user, (home_score, away_score) in zip(users, predictions, strict=True)
        )
        # The result, without the save signal's job: this helper calls the service itself.
        Match.objects.filter(pk=match.pk).update(
            status=Match.Status.COMPLETED, home_score=result[0], away_score=result[1]
        )
        match_score_predictions(match_id=match.pk)
        return _points(match)


@hypothesis_settings(max_examples=60, deadline=None)
@given(
    result=st.tuples(SCORE, SCORE),
    predictions=st.lists(st.tuples(SCORE, SCORE), min_size=1, max_size=15),
    tiers=st.one_of(st.just(DEFAULT_TIERS), TIERS),
)
def test_sql_points_equal_python_reference(
    result: tuple[int, int], predictions: list[tuple[int, int]], tiers: PointTiers
) -> None:
    """For any result, predictions and tiers, the SQL scoring gives every prediction exactly
    the points of the Python reference stats.scoring.prediction_points."""
    assert _scored_in_sql(result, predictions, tiers) == [
        prediction_points(predicted, result, tiers) for predicted in predictions
    ]
    assert Match.objects.count() == 0


# --- void matches -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [Match.Status.CANCELLED, Match.Status.POSTPONED])
def test_void_match_clears_points(status: Match.Status) -> None:
    """A cancelled or postponed match sets every prediction's points to NULL, including
    points scored while it was recorded as completed."""
    match = make_match()
    _predict(match, [(2, 1), (1, 0), (0, 3), (5, 5)])
    complete(match, 2, 1)
    match_score_predictions(match_id=match.pk)
    assert _points(match) == [3, 2, 0, 0]

    match.status = status
    match.save()
    result = match_score_predictions(match_id=match.pk)
    assert result == MatchScoring(match.pk, status, 4, True)
    assert _points(match) == [None, None, None, None]


@pytest.mark.parametrize("status", [Match.Status.CANCELLED, Match.Status.POSTPONED])
def test_void_match_never_scored(status: Match.Status) -> None:
    """A match voided before any scoring keeps NULL points, writes no prediction, and is
    marked as calculated."""
    match = make_match()
    _predict(match, [(1, 1), (0, 2)])
    match.status = status
    match.save()
    result = match_score_predictions(match_id=match.pk)
    assert result == MatchScoring(match.pk, status, 0, True)
    assert _points(match) == [None, None]
    match.refresh_from_db()
    assert match.points_calculated_at is not None


# --- re-scoring -------------------------------------------------------------------------------


def test_score_correction_rescores_from_the_latest_result() -> None:
    """After a corrected score, re-scoring gives each prediction the points of the new result
    (not old plus new), and writes only the predictions whose points change."""
    match = make_match()
    _predict(match, [(2, 1), (1, 0), (0, 1), (5, 5)])
    complete(match, 2, 1)
    match_score_predictions(match_id=match.pk)
    assert _points(match) == [3, 2, 0, 0]
    unchanged_row = _row_versions(match)[3]

    corrected = Match.objects.get(pk=match.pk)
    corrected.home_score, corrected.away_score = 0, 1
    corrected.save()
    result = match_score_predictions(match_id=match.pk)
    assert result == MatchScoring(match.pk, Match.Status.COMPLETED, 3, True)
    assert _points(match) == [0, 0, 3, 0]
    assert _row_versions(match)[3] == unchanged_row


def test_rescoring_an_unchanged_match_writes_nothing() -> None:
    """Re-running the scoring of an unchanged match changes no row and keeps
    points_calculated_at."""
    match = make_match()
    _predict(match, [(1, 1), (2, 2), (1, 0)])
    complete(match, 1, 1)
    assert match_score_predictions(match_id=match.pk) == MatchScoring(
        match.pk, Match.Status.COMPLETED, 3, True
    )
    match.refresh_from_db()
    calculated_at = match.points_calculated_at
    rows = _row_versions(match)

    again = match_score_predictions(match_id=match.pk)
    assert again == MatchScoring(match.pk, Match.Status.COMPLETED, 0, False)
    assert again.changed_anything is False
    assert _points(match) == [3, 2, 0]
    assert _row_versions(match) == rows
    match.refresh_from_db()
    assert match.points_calculated_at == calculated_at


def test_first_scoring_stamps_points_calculated_at() -> None:
    """The first scoring of a completed match stamps points_calculated_at, after the result."""
    match = make_match()
    _predict(match, [(1, 0)])
    complete(match, 3, 0)
    match.refresh_from_db()
    assert match.points_calculated_at is None
    before = timezone.now()
    match_score_predictions(match_id=match.pk)
    after = timezone.now()
    match.refresh_from_db()
    calculated_at: datetime | None = match.points_calculated_at
    assert calculated_at is not None
    assert match.completed_at is not None
    assert before <= calculated_at <= after
    assert calculated_at >= match.completed_at
    assert not Match.objects.with_stale_points().filter(pk=match.pk).exists()


def test_correction_after_scoring_makes_points_stale_until_rescored() -> None:
    """A corrected result makes the match's points stale; re-scoring stamps them fresh."""
    match = make_match()
    _predict(match, [(1, 0)])
    complete(match, 1, 0)
    match_score_predictions(match_id=match.pk)
    corrected = Match.objects.get(pk=match.pk)
    corrected.away_score = 1
    corrected.save()
    assert list(Match.objects.with_stale_points().values_list("pk", flat=True)) == [match.pk]
    match_score_predictions(match_id=match.pk)
    assert list(Match.objects.with_stale_points().values_list("pk", flat=True)) == []


# --- refusals ---------------------------------------------------------------------------------


def test_missing_match_raises_match_not_found() -> None:
    """Scoring a match id that does not exist raises MatchNotFound."""
    missing = (Match.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000
    with pytest.raises(MatchNotFound, match=f"^match {missing} does not exist$"):
        match_score_predictions(match_id=missing)


@pytest.mark.parametrize("status", [Match.Status.SCHEDULED, Match.Status.LIVE])
def test_unsettled_match_writes_nothing(status: Match.Status) -> None:
    """A scheduled or live match that was never settled has no points to clear: scoring it
    writes no prediction and no stamp, even when a live score is already recorded."""
    match = make_match()
    _predict(match, [(1, 0), (0, 0)])
    match.status, match.home_score, match.away_score = status, 1, 0
    match.save()
    rows = _row_versions(match)
    assert match_score_predictions(match_id=match.pk) == MatchScoring(match.pk, status, 0, False)
    assert _points(match) == [None, None]
    assert _row_versions(match) == rows
    match.refresh_from_db()
    assert (match.points_calculated_at, match.completed_at) == (None, None)


@pytest.mark.parametrize(
    ("status", "live_score"), [(Match.Status.SCHEDULED, None), (Match.Status.LIVE, 1)]
)
def test_withdrawn_result_clears_points_until_settled_again(
    status: Match.Status, live_score: int | None
) -> None:
    """A completed match taken back to scheduled or live loses its points (NULL) and its
    completed_at; completed again, it is stale and scored from the new result."""
    match = make_match()
    _predict(match, [(2, 1), (1, 1)])
    complete(match, 2, 1)
    match_score_predictions(match_id=match.pk)
    assert _points(match) == [3, 0]

    match.status, match.home_score, match.away_score = status, live_score, live_score
    match.save()
    assert match_score_predictions(match_id=match.pk) == MatchScoring(match.pk, status, 2, True)
    assert _points(match) == [None, None]
    match.refresh_from_db()
    assert match.completed_at is None
    assert not Match.objects.needing_scoring().filter(pk=match.pk).exists()

    complete(match, 1, 1)
    assert list(Match.objects.needing_scoring().values_list("pk", flat=True)) == [match.pk]
    match_score_predictions(match_id=match.pk)
    assert _points(match) == [0, 3]


def test_scoring_then_refresh_queues_the_delayed_refresh_once_it_commits(
    settings: Settings, django_capture_on_commit_callbacks: Any
) -> None:
    """The one place a result's refresh is queued: after the scoring commits, delayed, and only
    when the scoring changed something."""
    settings.STATS_REFRESH_DELAY = 60
    match = make_match()
    make_prediction(make_user(), match, 2, 0)
    complete(match, 2, 0)
    with django_capture_on_commit_callbacks(execute=False) as pending:
        assert match_score_then_refresh(match_id=match.pk).predictions_changed == 1
        assert jobs_of(REFRESH_STATS_VIEWS) == []  # not before the commit
    for callback in pending:
        callback()
    [refresh] = jobs_of(REFRESH_STATS_VIEWS, "todo")
    assert refresh.scheduled_at is not None
    assert 55 < (refresh.scheduled_at - timezone.now()).total_seconds() <= 60
    with django_capture_on_commit_callbacks(execute=True) as again:
        assert not match_score_then_refresh(match_id=match.pk).changed_anything
    assert again == []


def test_the_change_log_triggers_never_plan_a_nested_loop() -> None:
    """The log's triggers join their old and new rows by id in PL/pgSQL, which keeps the plan
    of a connection's first firing: after a scoring that changed no row, a nested loop made the
    next 20,000-row scoring quadratic (26 s instead of 0.8 s, bench/README.md). Their own
    settings rule nested loops out, whatever fired them first, and JIT (which the disabled
    nested loop's cost set off)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT proname, proconfig FROM pg_proc WHERE proname = ANY(%s) ORDER BY proname",
            [["stats_log_match_changes", "stats_log_prediction_changes"]],
        )
        assert cursor.fetchall() == [
            ("stats_log_match_changes", ["enable_nestloop=off", "jit=off"]),
            ("stats_log_prediction_changes", ["enable_nestloop=off", "jit=off"]),
        ]

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from psycopg import sql

from stats.models import Match, Prediction, ResultChange
from tests.support.factories import (
    complete,
    make_competition,
    make_match,
    make_prediction,
    make_team,
    make_user,
)

pytestmark = pytest.mark.django_db

# --- helpers ---------------------------------------------------------------------------------


def _refusing_constraint(write: Callable[[], object]) -> str | None:
    """Run `write` in a savepoint, which the database must refuse with IntegrityError; the name
    PostgreSQL gives for the constraint that refused the row."""
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        write()
    cause = excinfo.value.__cause__
    assert isinstance(cause, psycopg.errors.IntegrityError)
    return cause.diag.constraint_name


def _valid_match_columns() -> dict[str, Any]:
    """Column values of a scheduled match that every constraint accepts."""
    return {
        "competition_id": make_competition().pk,
        "round": 1,
        "home_team_id": make_team().pk,
        "away_team_id": make_team().pk,
        "kickoff_at": timezone.now(),
        "status": Match.Status.SCHEDULED,
        "home_score": None,
        "away_score": None,
    }


def _insert_sql(table: str, columns: dict[str, Any]) -> tuple[str, list[Any]]:
    statement = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier(table),
        sql.SQL(", ").join(sql.Identifier(name) for name in columns),
        sql.SQL(", ").join(sql.Placeholder() for _ in columns),
    )
    return statement.as_string(None), list(columns.values())


def _update_sql(table: str, pk: int, columns: dict[str, Any]) -> tuple[str, list[Any]]:
    statement = sql.SQL("UPDATE {} SET {} WHERE id = %s").format(
        sql.Identifier(table),
        sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(name)) for name in columns),
    )
    return statement.as_string(None), [*columns.values(), pk]


def _execute(statement: str, params: list[Any]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


# --- Match constraints ------------------------------------------------------------------------

# Each bad row: the column values that break one rule (on top of a valid scheduled match),
# and the constraint PostgreSQL names when it refuses them.
BAD_MATCHES: list[Any] = [
    pytest.param(
        lambda columns: {"away_team_id": columns["home_team_id"]},
        "stats_match_teams_differ",
        id="home-team-is-away-team",
    ),
    pytest.param(lambda columns: {"round": 0}, "stats_match_round_positive", id="round-0"),
    pytest.param(
        lambda columns: {"home_score": -1, "away_score": 0},
        "stats_match_home_score_check",
        id="negative-home-score",
    ),
    pytest.param(
        lambda columns: {"home_score": 0, "away_score": -2},
        "stats_match_away_score_check",
        id="negative-away-score",
    ),
    pytest.param(
        lambda columns: {"home_score": 1, "away_score": None},
        "stats_match_scores_set_together",
        id="only-home-score",
    ),
    pytest.param(
        lambda columns: {"home_score": None, "away_score": 3},
        "stats_match_scores_set_together",
        id="only-away-score",
    ),
    pytest.param(
        lambda columns: {"status": Match.Status.COMPLETED},
        "stats_match_completed_has_score",
        id="completed-without-scores",
    ),
]

BadColumns = Callable[[dict[str, Any]], dict[str, Any]]


@pytest.mark.parametrize(("bad", "constraint"), BAD_MATCHES)
def test_orm_create_refuses_bad_match(bad: BadColumns, constraint: str) -> None:
    """Creating a match that breaks a rule through the ORM raises IntegrityError."""
    columns = _valid_match_columns()
    assert (
        _refusing_constraint(lambda: Match.objects.create(**{**columns, **bad(columns)}))
        == constraint
    )
    assert Match.objects.count() == 0


@pytest.mark.parametrize(("bad", "constraint"), BAD_MATCHES)
def test_orm_save_refuses_bad_match(bad: BadColumns, constraint: str) -> None:
    """Saving an existing match with values that break a rule raises IntegrityError."""
    columns = _valid_match_columns()
    match = Match.objects.create(**columns)
    for name, value in bad(columns).items():
        setattr(match, name, value)
    assert _refusing_constraint(lambda: match.save()) == constraint
    assert Match.objects.values_list("status", "round", "home_score", "away_score").get() == (
        Match.Status.SCHEDULED,
        1,
        None,
        None,
    )


@pytest.mark.parametrize(("bad", "constraint"), BAD_MATCHES)
def test_raw_insert_refuses_bad_match(bad: BadColumns, constraint: str) -> None:
    """A raw SQL INSERT of a match that breaks a rule is refused by the database."""
    columns = _valid_match_columns()
    statement, params = _insert_sql("stats_match", {**columns, **bad(columns)})
    assert _refusing_constraint(lambda: _execute(statement, params)) == constraint
    assert Match.objects.count() == 0


@pytest.mark.parametrize(("bad", "constraint"), BAD_MATCHES)
def test_raw_update_refuses_bad_match(bad: BadColumns, constraint: str) -> None:
    """A raw SQL UPDATE that makes a match break a rule is refused by the database."""
    columns = _valid_match_columns()
    match = Match.objects.create(**columns)
    statement, params = _update_sql("stats_match", match.pk, bad(columns))
    assert _refusing_constraint(lambda: _execute(statement, params)) == constraint
    assert Match.objects.values_list("status", "round", "home_score", "away_score").get() == (
        Match.Status.SCHEDULED,
        1,
        None,
        None,
    )


def test_raw_insert_accepts_valid_match() -> None:
    """The valid row the bad rows are built from is accepted, so each refusal is its rule's."""
    columns = _valid_match_columns()
    _execute(*_insert_sql("stats_match", columns))
    assert Match.objects.values_list("status", "round", "home_score", "away_score").get() == (
        Match.Status.SCHEDULED,
        1,
        None,
        None,
    )


# --- Prediction constraints -------------------------------------------------------------------

NEGATIVE_PREDICTION_SCORES = [
    (-1, 0, "stats_prediction_home_score_check"),
    (0, -1, "stats_prediction_away_score_check"),
]


@pytest.mark.parametrize(("home_score", "away_score", "constraint"), NEGATIVE_PREDICTION_SCORES)
def test_orm_refuses_negative_prediction_score(
    home_score: int, away_score: int, constraint: str
) -> None:
    """A prediction with a negative score is refused through the ORM."""
    user, match = make_user(), make_match()
    assert (
        _refusing_constraint(lambda: make_prediction(user, match, home_score, away_score))
        == constraint
    )
    assert Prediction.objects.count() == 0


def _prediction_columns(
    user: User, match: Match, home_score: int, away_score: int
) -> dict[str, Any]:
    now = timezone.now()
    return {
        "user_id": user.pk,
        "match_id": match.pk,
        "home_score": home_score,
        "away_score": away_score,
        "created_at": now,
        "updated_at": now,
    }


@pytest.mark.parametrize(("home_score", "away_score", "constraint"), NEGATIVE_PREDICTION_SCORES)
def test_raw_sql_refuses_negative_prediction_score(
    home_score: int, away_score: int, constraint: str
) -> None:
    """Raw SQL can neither insert a negative predicted score nor update a prediction to one."""
    user, match = make_user(), make_match()
    statement, params = _insert_sql(
        "stats_prediction", _prediction_columns(user, match, home_score, away_score)
    )
    assert _refusing_constraint(lambda: _execute(statement, params)) == constraint

    prediction = make_prediction(user, match, 1, 1)
    statement, params = _update_sql(
        "stats_prediction",
        prediction.pk,
        {"home_score": home_score, "away_score": away_score},
    )
    assert _refusing_constraint(lambda: _execute(statement, params)) == constraint
    assert list(Prediction.objects.values_list("home_score", "away_score")) == [(1, 1)]


def test_orm_refuses_second_prediction_for_same_match() -> None:
    """A user predicts a match at most once: a second prediction through the ORM is refused."""
    user, match = make_user(), make_match()
    make_prediction(user, match, 1, 0)
    assert (
        _refusing_constraint(lambda: make_prediction(user, match, 2, 2))
        == "stats_prediction_one_per_match"
    )
    assert list(Prediction.objects.values_list("home_score", "away_score")) == [(1, 0)]


def test_raw_sql_refuses_second_prediction_for_same_match() -> None:
    """Raw SQL can neither insert a second prediction of one user for one match nor move a
    prediction onto a match the user already predicted."""
    user, match, other_match = make_user(), make_match(), make_match()
    make_prediction(user, match, 1, 0)
    statement, params = _insert_sql("stats_prediction", _prediction_columns(user, match, 2, 2))
    assert (
        _refusing_constraint(lambda: _execute(statement, params))
        == "stats_prediction_one_per_match"
    )

    moved = make_prediction(user, other_match, 3, 3)
    statement, params = _update_sql("stats_prediction", moved.pk, {"match_id": match.pk})
    assert (
        _refusing_constraint(lambda: _execute(statement, params))
        == "stats_prediction_one_per_match"
    )
    assert sorted(Prediction.objects.values_list("match_id", "home_score", "away_score")) == [
        (match.pk, 1, 0),
        (other_match.pk, 3, 3),
    ]


def test_other_users_may_predict_the_same_match() -> None:
    """The uniqueness is per (user, match): two users predicting one match is fine."""
    match = make_match()
    make_prediction(make_user(), match, 1, 0)
    make_prediction(make_user(), match, 1, 0)
    assert Prediction.objects.filter(match=match).count() == 2


# --- Match.save() stamps completed_at ---------------------------------------------------------


def _assert_between(value: datetime | None, before: datetime, after: datetime) -> None:
    assert value is not None
    assert before <= value <= after


def test_unsettled_match_has_no_completed_at() -> None:
    """Saving a scheduled or live match leaves completed_at empty."""
    match = make_match()
    match.status, match.home_score, match.away_score = Match.Status.LIVE, 1, 0
    match.save()
    match.refresh_from_db()
    assert match.completed_at is None


@pytest.mark.parametrize(
    ("status", "score"),
    [
        (Match.Status.COMPLETED, (2, 1)),
        (Match.Status.CANCELLED, (None, None)),
        (Match.Status.POSTPONED, (None, None)),
    ],
)
def test_settling_a_match_stamps_completed_at(
    status: Match.Status, score: tuple[int | None, int | None]
) -> None:
    """completed_at is stamped when a match becomes completed, cancelled or postponed."""
    match = make_match()
    before = timezone.now()
    match.status = status
    match.home_score, match.away_score = score
    match.save()
    after = timezone.now()
    match.refresh_from_db()
    _assert_between(match.completed_at, before, after)


def test_creating_a_settled_match_stamps_completed_at() -> None:
    """A match created already completed gets completed_at at once."""
    before = timezone.now()
    match = make_match(status=Match.Status.COMPLETED, home_score=0, away_score=0)
    after = timezone.now()
    match.refresh_from_db()
    _assert_between(match.completed_at, before, after)


def test_score_correction_restamps_completed_at() -> None:
    """Correcting the score of a completed match (loaded afresh, as the admin does) moves
    completed_at forward, so points computed before the correction look stale."""
    match = complete(make_match(), 2, 1)
    first = Match.objects.get(pk=match.pk).completed_at
    assert first is not None

    reloaded = Match.objects.get(pk=match.pk)
    reloaded.away_score = 2
    before = timezone.now()
    reloaded.save()
    after = timezone.now()
    reloaded.refresh_from_db()
    _assert_between(reloaded.completed_at, before, after)
    assert reloaded.completed_at is not None
    assert reloaded.completed_at > first


def test_score_correction_on_the_same_instance_restamps_completed_at() -> None:
    """A second correction on the instance that recorded the first one also restamps."""
    match = complete(make_match(), 2, 1)
    first = match.completed_at
    assert first is not None
    match.home_score = 3
    match.save()
    assert match.completed_at is not None
    assert match.completed_at > first
    assert Match.objects.values_list("completed_at", flat=True).get(pk=match.pk) == (
        match.completed_at
    )


def test_score_correction_with_update_fields_saves_completed_at() -> None:
    """save(update_fields=[scores]) of a correction writes the new completed_at too."""
    match = complete(make_match(), 2, 1)
    first = match.completed_at
    reloaded = Match.objects.get(pk=match.pk)
    reloaded.home_score, reloaded.away_score = 0, 0
    reloaded.save(update_fields=["home_score", "away_score"])
    stored = Match.objects.values_list("home_score", "away_score", "completed_at").get(pk=match.pk)
    assert stored == (0, 0, reloaded.completed_at)
    assert first is not None
    assert reloaded.completed_at is not None
    assert reloaded.completed_at > first


def test_cancelling_a_completed_match_restamps_completed_at() -> None:
    """A completed match later cancelled is a new result: completed_at moves forward."""
    match = complete(make_match(), 1, 1)
    first = match.completed_at
    reloaded = Match.objects.get(pk=match.pk)
    reloaded.status = Match.Status.CANCELLED
    reloaded.save()
    assert first is not None
    assert reloaded.completed_at is not None
    assert reloaded.completed_at > first


@pytest.mark.parametrize("update_fields", [None, ["kickoff_at"]])
def test_saving_an_unrelated_field_keeps_completed_at(update_fields: list[str] | None) -> None:
    """Moving the kickoff of a settled match is no new result: completed_at stays."""
    match = complete(make_match(), 2, 1)
    first = match.completed_at

    reloaded = Match.objects.get(pk=match.pk)
    reloaded.kickoff_at = reloaded.kickoff_at + timedelta(hours=2)
    reloaded.save(update_fields=update_fields)
    assert Match.objects.values_list("kickoff_at", "completed_at").get(pk=match.pk) == (
        reloaded.kickoff_at,
        first,
    )

    match.kickoff_at = reloaded.kickoff_at + timedelta(hours=1)
    match.save(update_fields=update_fields)
    assert Match.objects.values_list("kickoff_at", "completed_at").get(pk=match.pk) == (
        match.kickoff_at,
        first,
    )


def test_score_correction_after_refresh_from_db_restamps_completed_at() -> None:
    """An instance refreshed from the database compares a correction with the refreshed
    result: setting the score back to what it was before someone else's correction is a
    correction too, and restamps completed_at."""
    match = complete(make_match(), 2, 1)
    elsewhere = Match.objects.get(pk=match.pk)
    elsewhere.home_score = 3
    elsewhere.save()
    corrected_at = elsewhere.completed_at

    match.refresh_from_db()
    assert (match.home_score, match.away_score, match.completed_at) == (3, 1, corrected_at)
    match.home_score = 2
    match.save()
    assert corrected_at is not None
    stored = Match.objects.values_list("home_score", "completed_at").get(pk=match.pk)
    assert stored[0] == 2
    assert stored[1] is not None
    assert stored[1] > corrected_at


def test_changed_result_compares_the_instance_with_its_result_as_last_saved() -> None:
    """What the post_save receiver decides from: the saved result against the one before, with
    nothing left on the instance once save() returns."""
    match = make_match()
    assert match.changed_result() is None
    match.status, match.home_score, match.away_score = Match.Status.COMPLETED, 1, 0
    assert match.changed_result() is ResultChange.FRESH
    match.save()
    assert match.changed_result() is None
    assert not hasattr(match, "result_change")
    match.home_score = 2
    assert match.changed_result() is ResultChange.CORRECTION
    match.save()
    match.status, match.home_score, match.away_score = Match.Status.LIVE, None, None
    assert match.changed_result() is ResultChange.WITHDRAWN
    fetched = Match.objects.get(pk=match.pk)
    assert fetched.changed_result() is None

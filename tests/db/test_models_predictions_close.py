"""Predictions close at kickoff: the database refuses late ones from every writer, and the ORM
and the admin show its reason."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from stats.exceptions import PredictionClosed
from stats.models import Match, Prediction
from stats.services import match_score_predictions
from tests.support.factories import complete, make_match, make_prediction, make_user

pytestmark = pytest.mark.django_db


def kicked_off() -> Match:
    return make_match(kickoff_at=timezone.now() - timedelta(minutes=1))


def closed_reason(match: Match, why: str) -> str:
    return (
        f"predictions for match {match.pk} ({match.home_team} v {match.away_team}) are closed: "
        f"{why}"
    )


def kickoff_text(match: Match) -> str:
    return f"it kicked off at {match.kickoff_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def test_before_kickoff_a_prediction_is_made_and_changed() -> None:
    """A scheduled match with a future kickoff takes predictions, and changes to them."""
    prediction = make_prediction(make_user(), make_match(), 1, 0)
    prediction.home_score = 3
    prediction.full_clean()
    prediction.save()
    assert Prediction.objects.values_list("home_score", "away_score").get() == (3, 0)


def test_after_kickoff_the_orm_refuses_with_the_reason() -> None:
    """Creating a prediction once the match has kicked off raises PredictionClosed, a
    ValidationError whose message names the match and its kickoff; nothing is written."""
    match = kicked_off()
    with pytest.raises(PredictionClosed) as refused:
        make_prediction(make_user(), match, 1, 0)
    assert refused.value.messages == [closed_reason(match, kickoff_text(match))]
    assert str(refused.value) == closed_reason(match, kickoff_text(match))
    assert Prediction.objects.count() == 0


@pytest.mark.parametrize(
    "status",
    [Match.Status.LIVE, Match.Status.COMPLETED, Match.Status.POSTPONED, Match.Status.CANCELLED],
)
def test_a_match_no_longer_scheduled_refuses_predictions(status: str) -> None:
    """Whatever its kickoff, a match that is live, completed or void takes no prediction."""
    match = make_match()
    match.status = status
    if status == Match.Status.COMPLETED:
        match.home_score, match.away_score = 1, 1
    match.save()
    prediction = Prediction(user=make_user(), match=match, home_score=1, away_score=1)
    with pytest.raises(ValidationError) as by_clean:
        prediction.full_clean()
    with pytest.raises(PredictionClosed) as by_save:
        prediction.save()
    assert (
        by_clean.value.messages
        == by_save.value.messages
        == [closed_reason(match, f"it is {status}")]
    )


def test_changing_scores_after_kickoff_is_refused_but_scoring_passes() -> None:
    """A prediction's scores are frozen once the match is under way; the scoring job's points
    still get written."""
    match = make_match()
    prediction = make_prediction(make_user(), match, 2, 1)
    complete(match, 2, 1)
    prediction.away_score = 0
    with pytest.raises(PredictionClosed, match="it is completed"):
        prediction.save()
    match_score_predictions(match_id=match.pk)
    assert Prediction.objects.values_list("away_score", "points").get() == (1, 3)


def test_saving_an_unchanged_prediction_after_kickoff_passes() -> None:
    """A save that changes no score (only updated_at) is no new prediction."""
    match = make_match()
    prediction = make_prediction(make_user(), match, 2, 1)
    Match.objects.filter(pk=match.pk).update(kickoff_at=timezone.now() - timedelta(hours=1))
    prediction.full_clean()
    prediction.save()


def execute_in_savepoint(statement: str, params: list[int]) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)


def test_raw_sql_is_refused_too() -> None:
    """The rule lives in the database: a raw INSERT or UPDATE gets an IntegrityError with the
    rule's own SQLSTATE and the reason; a raw points update passes."""
    match = make_match()
    user = make_user()
    prediction = make_prediction(user, match, 0, 0)
    Match.objects.filter(pk=match.pk).update(kickoff_at=timezone.now() - timedelta(hours=1))
    match.refresh_from_db()
    statements = [
        (
            "INSERT INTO stats_prediction (user_id, match_id, home_score, away_score,"
            " created_at, updated_at) VALUES (%s, %s, 1, 1, now(), now())",
            [make_user().pk, match.pk],
        ),
        ("UPDATE stats_prediction SET home_score = 5 WHERE id = %s", [prediction.pk]),
    ]
    for statement, params in statements:
        with pytest.raises(IntegrityError) as refused:
            execute_in_savepoint(statement, params)
        cause = refused.value.__cause__
        assert getattr(cause, "sqlstate", None) == PredictionClosed.SQLSTATE
        assert cause.diag.message_primary == closed_reason(match, kickoff_text(match))  # type: ignore[union-attr]
    with connection.cursor() as cursor:
        cursor.execute("UPDATE stats_prediction SET points = 1 WHERE id = %s", [prediction.pk])
        assert cursor.rowcount == 1


def test_moving_a_prediction_off_a_closed_match_is_refused() -> None:
    """Re-pointing a prediction from a match under way to an open one would rewrite history."""
    closed, open_match = make_match(), make_match()
    prediction = make_prediction(make_user(), closed, 1, 0)
    Match.objects.filter(pk=closed.pk).update(status=Match.Status.LIVE)
    prediction.match = open_match
    with pytest.raises(PredictionClosed, match=f"match {closed.pk} .* it is live"):
        prediction.save()


def test_admin_form_shows_the_reason(admin_client: Client) -> None:
    """Adding a prediction for a kicked-off match in the admin answers the form again with the
    reason as its error, not a server error; nothing is written."""
    match = kicked_off()
    user = make_user()
    response = admin_client.post(
        reverse("admin:stats_prediction_add"),
        {"user": user.pk, "match": match.pk, "home_score": "1", "away_score": "0"},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == [
        closed_reason(match, kickoff_text(match))
    ]
    assert Prediction.objects.count() == 0


def test_admin_form_saves_an_open_prediction(admin_client: Client) -> None:
    """The same form before kickoff saves the prediction."""
    match, user = make_match(), make_user()
    response = admin_client.post(
        reverse("admin:stats_prediction_add"),
        {"user": user.pk, "match": match.pk, "home_score": "1", "away_score": "0"},
    )
    assert response.status_code == 302
    assert Prediction.objects.values_list("user_id", "match_id").get() == (user.pk, match.pk)


def test_admin_shows_a_closed_prediction_read_only(admin_client: Client) -> None:
    """A prediction whose match is under way is shown without inputs for its scores; an open
    one keeps them."""
    closed, open_match = make_match(), make_match()
    user = make_user()
    frozen = make_prediction(user, closed, 1, 0)
    editable = make_prediction(user, open_match, 1, 0)
    Match.objects.filter(pk=closed.pk).update(status=Match.Status.LIVE)

    def score_inputs(prediction: Prediction) -> list[str]:
        page = admin_client.get(reverse("admin:stats_prediction_change", args=[prediction.pk]))
        assert page.status_code == 200
        return [
            name
            for name in ("home_score", "away_score")
            if name in page.context["adminform"].form.fields
        ]

    assert score_inputs(frozen) == []
    assert score_inputs(editable) == ["home_score", "away_score"]

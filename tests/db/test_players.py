"""stats/players.py: a prediction made or changed in one statement, outside any transaction of
the caller's (as a request makes it), and the double submit that statement alone would miss."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections

from stats.models import Prediction
from stats.players import prediction_put
from tests.support.factories import make_match, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_prediction_is_made_changed_and_left_alone_when_unchanged() -> None:
    player, match = make_user("ann"), make_match()
    made, created = prediction_put(user=player, match_id=match.pk, home_score=2, away_score=1)
    assert created
    again, created_again = prediction_put(
        user=player, match_id=match.pk, home_score=2, away_score=1
    )
    assert (again.pk, again.updated_at, created_again) == (made.pk, made.updated_at, False)
    changed, _ = prediction_put(user=player, match_id=match.pk, home_score=0, away_score=0)
    stored = Prediction.objects.get(pk=made.pk)
    assert (stored.home_score, stored.away_score) == (changed.home_score, changed.away_score)
    assert (stored.home_score, stored.away_score) == (0, 0)
    assert stored.updated_at > made.updated_at


def test_a_double_submit_committed_under_the_statement_gets_the_prediction_back() -> None:
    """The same prediction committed by another request while this one's write waits on it:
    the write leaves it (unchanged) and its snapshot predates it, so only a second statement
    can return it."""
    player, match = make_user("bob"), make_match()
    other = connections.create_connection(DEFAULT_DB_ALIAS)
    answer: dict[str, Any] = {}
    try:
        other.set_autocommit(False)
        with other.cursor() as cursor:
            cursor.execute(
                "INSERT INTO stats_prediction (user_id, match_id, home_score, away_score,"
                " created_at, updated_at) VALUES (%s, %s, 1, 1, now(), now())",
                [player.pk, match.pk],
            )

        def submit() -> None:
            try:
                answer["put"] = prediction_put(
                    user=player, match_id=match.pk, home_score=1, away_score=1
                )
            finally:
                connections.close_all()

        second = threading.Thread(target=submit)
        second.start()
        deadline = time.monotonic() + 20
        while not waiting_on_a_lock() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert waiting_on_a_lock(), "the second submit never waited for the first"
        other.commit()
        second.join(timeout=20)
    finally:
        other.close()
    prediction, created = answer["put"]
    assert not created
    assert (prediction.user_id, prediction.match_id, prediction.home_score) == (
        player.pk,
        match.pk,
        1,
    )
    assert Prediction.objects.filter(user=player, match=match).count() == 1


def waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND query LIKE '%%INSERT INTO stats_prediction AS p%%'"
        )
        (waiting,) = cursor.fetchone()
    return bool(waiting)

"""Small leagues with known standings, built through the models and scored by the services."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User

from stats.models import Competition, Match
from stats.refresh import stats_refresh
from stats.services import match_score_predictions
from tests.support.factories import (
    complete,
    make_competition,
    make_match,
    make_prediction,
    make_user,
)


@dataclass(frozen=True)
class League:
    premier: Competition
    cup: Competition
    alice: User
    bob: User
    carol: User
    dave: User


def scored_league() -> League:
    """Two competitions, four players, three completed matches; scored and refreshed.

    Overall: alice and bob 5 points with 1 exact score (rank 1, 1), dave 3 with 1 exact (3),
    carol 3 with none (4). Premier: alice 5, bob 5, carol 1, dave 0. Cup: dave 3, carol 2.
    """
    premier = make_competition("premier", name="Premier League")
    cup = make_competition("cup", name="Cup")
    alice, bob, carol, dave = (make_user(name) for name in ("alice", "bob", "carol", "dave"))
    round_1 = make_match(premier, round=1)
    round_2 = make_match(premier, round=2)
    cup_final = make_match(cup, round=1)
    for user, home, away in ((alice, 2, 1), (bob, 3, 2), (carol, 3, 0), (dave, 0, 1)):
        make_prediction(user, round_1, home, away)
    for user, home, away in ((alice, 1, 1), (bob, 0, 0), (carol, 2, 0)):
        make_prediction(user, round_2, home, away)
    for user, home, away in ((dave, 1, 3), (carol, 0, 2)):
        make_prediction(user, cup_final, home, away)
    for match, home, away in ((round_1, 2, 1), (round_2, 0, 0), (cup_final, 1, 3)):
        complete(match, home, away)
        match_score_predictions(match_id=match.pk)
    stats_refresh()
    return League(premier, cup, alice, bob, carol, dave)


def one_scored_match(
    *,
    username: str | None = None,
    competition: Competition | None = None,
    score: tuple[int, int] = (1, 0),
    refreshed: bool = True,
) -> Match:
    """A match one user predicted exactly, completed with `score` and scored in this process
    (its scoring job stays queued), the views refreshed unless told otherwise."""
    match = make_match(competition)
    make_prediction(make_user(username), match, *score)
    complete(match, *score)
    match_score_predictions(match_id=match.pk)
    if refreshed:
        stats_refresh()
    return match

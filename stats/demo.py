"""A small league for the demo: competitions, teams, a fixture list, users and predictions."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from stats.models import Competition, Match, Prediction, Team

DEMO_USER_PREFIX = "demo-"
COMPETITIONS = (("premier-demo", "Premier Demo League"), ("cup-demo", "Demo Cup"))


@dataclass(frozen=True)
class LeagueSize:
    users: int = 300
    teams: int = 10  # per competition: each round pairs them all, teams/2 matches
    rounds: int = 5


@transaction.atomic
def demo_league_create(*, size: LeagueSize, seed: int = 2026) -> list[Match]:
    """Replace any previous demo league with a fresh one; return its matches, by round."""
    rng = random.Random(seed)  # noqa: S311  (a repeatable league, not a secret)
    Prediction.objects.filter(user__username__startswith=DEMO_USER_PREFIX).delete()
    Match.objects.filter(competition__slug__in=[slug for slug, _ in COMPETITIONS]).delete()
    Competition.objects.filter(slug__in=[slug for slug, _ in COMPETITIONS]).delete()
    User.objects.filter(username__startswith=DEMO_USER_PREFIX).delete()

    users = User.objects.bulk_create(
        # Unusable passwords: hashing hundreds of real ones would take minutes.
        User(username=f"{DEMO_USER_PREFIX}{n:04d}", password="!")  # noqa: S106
        for n in range(1, size.users + 1)
    )
    kickoff = timezone.now() - timedelta(days=size.rounds * 7)
    matches: list[Match] = []
    for slug, name in COMPETITIONS:
        competition = Competition.objects.create(slug=slug, name=name)
        teams = [
            Team.objects.get_or_create(name=f"{name} Team {n}")[0] for n in range(1, size.teams + 1)
        ]
        for round_number in range(1, size.rounds + 1):
            rng.shuffle(teams)
            for home, away in zip(teams[::2], teams[1::2], strict=True):
                matches.append(
                    Match.objects.create(
                        competition=competition,
                        round=round_number,
                        home_team=home,
                        away_team=away,
                        kickoff_at=kickoff + timedelta(days=7 * round_number),
                    )
                )
    Prediction.objects.bulk_create(
        Prediction(user=user, match=match, home_score=_goals(rng), away_score=_goals(rng))
        for user in users
        for match in matches
    )
    return sorted(matches, key=lambda match: (match.round, match.competition_id, match.pk))


def demo_result(match: Match, seed: int = 2026) -> tuple[int, int]:
    rng = random.Random(seed * 100_003 + match.pk)  # noqa: S311
    return _goals(rng), _goals(rng)


def _goals(rng: random.Random) -> int:
    # Roughly football's distribution: mostly 0-2, now and then more.
    return min(rng.choices(range(7), weights=(25, 33, 23, 11, 5, 2, 1))[0], 6)

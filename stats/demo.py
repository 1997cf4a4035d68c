"""A real season for the demo: its fixtures moved into the future, users and their predictions,
then its real results fed back round by round as football.json snapshots.

The season's dates move by a whole number of days, so every match keeps its local kickoff time
and predictions open. A round is played by a snapshot that brings its fixtures to "just played"
(kicked off 105 minutes ago) with their real full-time scores: the feed moves and completes
them, exactly as `manage.py sync_matches` does for any file.
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from stats.football_json import SEASONS_DIR, Feed, feed_read
from stats.groups import group_create, group_join
from stats.models import Competition, Match, PlayerGroup, Prediction

DEMO_USER_PREFIX = "demo-"
DEFAULT_SEASON = SEASONS_DIR / "2024-25" / "en.1.json"
PLAYED_AGO = timedelta(minutes=105)  # kickoff, 90 minutes and a break: full time is now


@dataclass(frozen=True)
class DemoSeason:
    """A real season, renamed "<name> (demo)" so it never touches a league loaded for real."""

    feed: Feed
    document: dict[str, Any]
    shift: timedelta

    @classmethod
    def load(cls, path: Path) -> DemoSeason:
        feed = feed_read(path)
        document = json.loads(path.read_text(encoding="utf-8"))
        document["name"] = f"{document['name']} (demo)"
        first_day = min(date.fromisoformat(entry["date"]) for entry in document["matches"])
        tomorrow = timezone.localdate(timezone=feed.time_zone) + timedelta(days=1)
        return cls(feed, document, tomorrow - first_day)

    @property
    def name(self) -> str:
        return str(self.document["name"])

    @property
    def rounds(self) -> int:
        return max(entry.round for entry in self.feed.matches)

    def snapshot(self, played: dict[int, datetime]) -> dict[str, Any]:
        """The season as its feed would publish it: the rounds in `played` kicked off at the
        given moment with their real scores, every other fixture ahead, without a score."""
        document = copy.deepcopy(self.document)
        for entry, raw in zip(self.feed.matches, document["matches"], strict=True):
            kickoff = played.get(entry.round)
            if kickoff is None:
                raw["date"] = (date.fromisoformat(raw["date"]) + self.shift).isoformat()
                raw["score"] = {}
            else:
                local = kickoff.astimezone(self.feed.time_zone)
                raw["date"], raw["time"] = local.date().isoformat(), f"{local:%H:%M}"
        return document


def demo_reset(season: DemoSeason) -> None:
    """Remove a previous run of the demo: its users, their predictions, its competition."""
    with transaction.atomic():
        PlayerGroup.objects.filter(owner__username__startswith=DEMO_USER_PREFIX).delete()
        Prediction.objects.filter(user__username__startswith=DEMO_USER_PREFIX).delete()
        Match.objects.filter(competition__name=season.name).delete()
        Competition.objects.filter(name=season.name).delete()
        User.objects.filter(username__startswith=DEMO_USER_PREFIX).delete()


@transaction.atomic
def demo_predictions_create(*, matches: list[Match], users: int, seed: int = 2026) -> int:
    """Create `users` users, each predicting every match (all still open); return the count."""
    rng = random.Random(seed)  # noqa: S311  (a repeatable league, not a secret)
    players = User.objects.bulk_create(
        # Unusable passwords: hashing hundreds of real ones would take minutes.
        User(username=f"{DEMO_USER_PREFIX}{n:04d}", password="!")  # noqa: S106
        for n in range(1, users + 1)
    )
    predictions = Prediction.objects.bulk_create(
        (
            Prediction(user=user, match=match, home_score=_goals(rng), away_score=_goals(rng))
            for user in players
            for match in matches
        ),
        batch_size=5000,
    )
    return len(predictions)


DEMO_GROUPS = (("Office pool", 12), ("Family", 6), ("Five-a-side", 9))


@transaction.atomic
def demo_groups_create(*, seed: int = 2026) -> list[PlayerGroup]:
    """A few groups among the demo's players, each joined by code as a player would."""
    rng = random.Random(seed)  # noqa: S311  (a repeatable league, not a secret)
    players = list(User.objects.filter(username__startswith=DEMO_USER_PREFIX).order_by("id"))
    created = []
    for name, size in DEMO_GROUPS:
        members = rng.sample(players, min(size, len(players)))
        if not members:
            break
        group = group_create(owner=members[0], name=name)
        for member in members[1:]:
            group_join(user=member, join_code=group.join_code)
        created.append(group)
    return created


def write_snapshot(document: dict[str, Any], folder: Path, name: str) -> Path:
    path = folder / name
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def _goals(rng: random.Random) -> int:
    # Roughly football's distribution: mostly 0-2, now and then more.
    return rng.choices(range(7), weights=(25, 33, 23, 11, 5, 2, 1))[0]

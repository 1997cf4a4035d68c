"""The demo's season: fixtures moved into the future, rounds played by feed snapshots. (The
demo's worker processes are `manage.py demo`'s own; the pipeline tests cover real workers.)"""

from __future__ import annotations

import io
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from stats.demo import (
    DEFAULT_SEASON,
    DEMO_GROUPS,
    PLAYED_AGO,
    DemoSeason,
    demo_groups_create,
    demo_predictions_create,
    demo_reset,
)
from stats.demo import write_snapshot as write
from stats.models import GroupMembership, Match, PlayerGroup, Prediction

pytestmark = pytest.mark.django_db


def sync(season: DemoSeason, path: Path) -> str:
    out = io.StringIO()
    call_command(
        "sync_matches", str(path), time_zone=season.feed.time_zone.key, stdout=out, verbosity=0
    )
    return out.getvalue().split(" ms: ")[1].strip()


def test_fixtures_open_then_each_round_is_moved_to_now_and_completed(tmp_path: Path) -> None:
    """The fixtures snapshot puts the whole season ahead (from tomorrow, local times kept, no
    score), so predictions are accepted; a round's snapshot brings its ten matches to "kicked
    off 105 minutes ago" with their real scores, and touches nothing else."""
    season = DemoSeason.load(DEFAULT_SEASON)
    fixtures = season.snapshot({})
    first_day = min(date.fromisoformat(raw["date"]) for raw in fixtures["matches"])
    assert first_day == timezone.localdate(timezone=season.feed.time_zone) + timedelta(days=1)
    assert all(raw["score"] == {} for raw in fixtures["matches"])
    assert fixtures["matches"][0]["time"] == "20:00"  # the real opener's local kickoff
    assert sync(season, write(fixtures, tmp_path, "fixtures.json")).startswith("380 created, 0 ")

    round_1 = list(Match.objects.filter(round=1))
    assert demo_predictions_create(matches=round_1, users=3) == 30

    kicked_off = timezone.now() - PLAYED_AGO
    played = season.snapshot({1: kicked_off})
    assert sync(season, write(played, tmp_path, "round-01.json")).startswith(
        "0 created, 10 completed, 0 corrected, 0 voided, 0 reopened, 10 moved, 370 unchanged"
    )
    opener = Match.objects.get(round=1, home_team__name="Manchester United FC")
    assert (opener.home_score, opener.away_score, opener.status) == (1, 0, "completed")
    assert abs(opener.kickoff_at - kicked_off) < timedelta(minutes=1)
    assert Match.objects.filter(status="scheduled", kickoff_at__gt=timezone.now()).count() == 370

    demo_reset(season)
    assert (Match.objects.count(), Prediction.objects.count()) == (0, 0)


def test_demo_groups_are_joined_by_code_and_reset_with_the_demo(tmp_path: Path) -> None:
    """A few groups among the demo's players, of the sizes named; a new run removes them."""
    season = DemoSeason.load(DEFAULT_SEASON)
    sync(season, write(season.snapshot({}), tmp_path, "fixtures.json"))
    demo_predictions_create(matches=list(Match.objects.filter(round=1)), users=20)
    created = demo_groups_create()
    assert [(group.name, group.memberships.count()) for group in created] == list(DEMO_GROUPS)
    assert all(group.owner.username.startswith("demo-") for group in created)
    demo_reset(season)
    assert (PlayerGroup.objects.count(), GroupMembership.objects.count()) == (0, 0)

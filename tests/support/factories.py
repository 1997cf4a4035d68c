"""Small builders for league data; every argument has a sensible default."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from stats.models import PREDICTION_KICKOFF_TRIGGER, Competition, Match, Prediction, Team

_sequence = itertools.count(1)


def make_user(username: str | None = None, **fields: Any) -> User:
    return User.objects.create_user(
        username=username or f"user{next(_sequence)}", password="x", **fields
    )


def make_competition(slug: str | None = None, **fields: Any) -> Competition:
    slug = slug or f"league-{next(_sequence)}"
    return Competition.objects.create(slug=slug, name=fields.pop("name", slug.title()), **fields)


def make_team(name: str | None = None) -> Team:
    return Team.objects.create(name=name or f"Team {next(_sequence)}")


def make_match(
    competition: Competition | None = None,
    *,
    round: int = 1,
    kickoff_at: datetime | None = None,
    **fields: Any,
) -> Match:
    return Match.objects.create(
        competition=competition or make_competition(),
        round=round,
        home_team=fields.pop("home_team", None) or make_team(),
        away_team=fields.pop("away_team", None) or make_team(),
        kickoff_at=kickoff_at or timezone.now() + timedelta(days=1),
        **fields,
    )


def make_prediction(user: User, match: Match, home_score: int, away_score: int) -> Prediction:
    return Prediction.objects.create(
        user=user, match=match, home_score=home_score, away_score=away_score
    )


@contextmanager
def kickoff_check_off() -> Iterator[None]:
    """Write predictions the way a restore or a bulk load with triggers off does: past the
    database's "predictions close at kickoff" check (for this transaction only)."""
    with transaction.atomic(), connection.cursor() as cursor:
        # ALTER TABLE refuses to run while deferred foreign-key checks are pending.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE stats_prediction DISABLE TRIGGER {PREDICTION_KICKOFF_TRIGGER}")
        yield
        cursor.execute(f"ALTER TABLE stats_prediction ENABLE TRIGGER {PREDICTION_KICKOFF_TRIGGER}")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def complete(match: Match, home_score: int, away_score: int) -> Match:
    """Record a final result the way a user would: set the fields and save()."""
    match.status = Match.Status.COMPLETED
    match.home_score, match.away_score = home_score, away_score
    match.save()
    return match


@contextmanager
def rolled_back() -> Iterator[None]:
    """Run the block in a transaction (a savepoint inside a test) that is always rolled back:
    schema damage (DDL is transactional in PostgreSQL) and rows alike are undone."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def settle_without_points(*, ago: timedelta) -> Match:
    """A match completed `ago`, whose points were never calculated (no job was enqueued)."""
    match = make_match()
    Match.objects.filter(pk=match.pk).update(
        status=Match.Status.COMPLETED,
        home_score=2,
        away_score=0,
        completed_at=timezone.now() - ago,
    )
    return match

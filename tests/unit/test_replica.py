"""Where queries go, decided without a server: the router acts only inside a public read."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.test import Client
from pytest_django import Settings

from stats.models import Competition, UserTotal
from stats.replica import PRIMARY, REPLICA, PublicReadRouter, public_read_alias, reading_from

METRICS_TOKEN = "metrics-token-for-the-replica-tests-0123456789"


def test_outside_a_public_read_the_router_has_no_opinion_on_reads() -> None:
    """The admin, jobs and /health never enter a public read: Django's default (the primary)."""
    router = PublicReadRouter()
    assert router.db_for_read(UserTotal) is None
    assert router.db_for_read(Competition) is None


def test_inside_a_public_read_only_the_leagues_tables_move() -> None:
    """Users and sessions (logins) stay on the primary even inside a public read."""
    router = PublicReadRouter()
    with reading_from(REPLICA):
        assert router.db_for_read(UserTotal) == REPLICA
        assert router.db_for_read(Competition) == REPLICA
        assert router.db_for_read(User) is None
        assert router.db_for_read(Session) is None


def test_every_write_goes_to_the_primary_and_pins_the_read_there() -> None:
    """A write inside a public read goes to the primary, and the reads after it follow it."""
    router = PublicReadRouter()
    with reading_from(REPLICA):
        assert router.db_for_write(Competition) == PRIMARY
        assert router.db_for_read(Competition) == PRIMARY
    with reading_from(REPLICA):
        assert router.db_for_read(Competition) == REPLICA
    assert router.db_for_write(User) == PRIMARY


def test_the_replica_is_never_migrated() -> None:
    router = PublicReadRouter()
    assert router.allow_migrate(REPLICA, "stats") is False
    assert router.allow_migrate(PRIMARY, "stats") is None


@pytest.mark.django_db
@pytest.mark.skipif(REPLICA in django_settings.DATABASES, reason="DATABASE_REPLICA_URL is set")
def test_without_a_replica_everything_reads_the_primary(settings: Settings) -> None:
    """DATABASE_REPLICA_URL unset: no alias, and no replica in /health or /metrics."""
    settings.METRICS_TOKEN = METRICS_TOKEN
    assert public_read_alias() == PRIMARY
    assert "replica" not in Client().get("/health").json()
    metrics = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")
    assert metrics.status_code == 200
    assert "matchday_replica" not in metrics.content.decode()

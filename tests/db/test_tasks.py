"""The refresh job, without a worker process: one run at a time (its lock), and a bounded wait
for a lock on a view (lock_timeout)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.db import OperationalError, connection
from procrastinate import sql
from procrastinate.contrib.django.utils import connector_params

from stats import jobs, tasks
from stats.relations import OVERALL
from tests.support.jobs import set_job_status
from tests.support.leagues import one_scored_match

pytestmark = pytest.mark.django_db


def fetch_job(worker_id: int) -> int | None:
    """The id of the job a worker would take now (Procrastinate's own fetch), or None."""
    with connection.cursor() as cursor:
        cursor.execute(sql.queries["fetch_job"], {"queues": None, "worker_id": worker_id})
        job_id: int | None = cursor.fetchone()[0]
        return job_id


def register_worker() -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql.queries["register_worker"])
        return int(cursor.fetchone()[0])


def test_a_refresh_waiting_behind_a_running_one_is_not_taken_until_it_ends() -> None:
    """Two refreshes never run at once: while one runs, no worker takes the follow-up."""
    worker = register_worker()
    running = jobs.enqueue_stats_refresh(delay_seconds=0)
    assert fetch_job(worker) == running
    follow_up = jobs.enqueue_stats_refresh(delay_seconds=0)
    assert follow_up is not None
    assert fetch_job(worker) is None
    assert running is not None
    set_job_status(running, "succeeded")
    assert fetch_job(worker) == follow_up


@pytest.fixture
def overall_board_locked() -> Iterator[psycopg.Connection[Any]]:
    """Another session holding an ACCESS EXCLUSIVE lock on the overall board (as a migration
    would), for at most a few seconds (so a refresh that would wait for ever ends anyway).
    A plain refresh takes that lock: LOCK TABLE refuses materialized views."""
    with psycopg.connect(**connector_params()) as blocker:
        blocker.execute("SET idle_in_transaction_session_timeout = '5s'")
        blocker.execute(f"REFRESH MATERIALIZED VIEW {OVERALL.ranks.name}")
        yield blocker
        blocker.rollback()


@pytest.mark.usefixtures("overall_board_locked")
def test_a_refresh_gives_up_on_a_lock_held_too_long(settings: Any) -> None:
    """The refresh waits STATS_REFRESH_LOCK_TIMEOUT seconds for a lock, then fails (and its job
    is retried later), instead of waiting as long as the lock is held."""
    settings.STATS_REFRESH_LOCK_TIMEOUT = 1
    one_scored_match(refreshed=False)  # a total changed: the refresh has the board to redo
    with pytest.raises(OperationalError, match="lock timeout"):
        tasks.refresh_stats_views()

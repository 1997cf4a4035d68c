from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from stats.processes import WorkerPool
from tests.support.cleanup import queue_empty, statistics_reset
from tests.support.workers import worker_pool

# Django flushes the tables after a transactional test, once every fixture of the test (the one
# below included) is torn down, and a flush leaves Procrastinate's unmanaged tables and the
# materialized views as they were. The queue is emptied at the test's end; the views are reset
# by the next test that uses the database, after the flush (and by the first one, for what a
# previous run with --reuse-db left).
_statistics_left_behind = True


@pytest.fixture(autouse=True)
def _clean_queue_and_statistics(
    request: pytest.FixtureRequest, django_db_blocker: Any
) -> Iterator[None]:
    """No test sees the jobs or the statistics of a transactional test before it."""
    global _statistics_left_behind
    uses_database = request.node.get_closest_marker("django_db") is not None or (
        "_django_db_helper" in request.fixturenames
    )
    if uses_database and _statistics_left_behind:
        with django_db_blocker.unblock():
            statistics_reset()
        _statistics_left_behind = False
    yield
    marker = request.node.get_closest_marker("django_db")
    transactional = (marker is not None and marker.kwargs.get("transaction")) or (
        {"transactional_db", "live_server"} & set(request.fixturenames)
    )
    if transactional:
        with django_db_blocker.unblock():
            queue_empty()
        _statistics_left_behind = True


@pytest.fixture
def workers(
    transactional_db: None, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[WorkerPool]:
    """Real worker processes on the test database (the test's writes must commit to be seen)."""
    pool = worker_pool(tmp_path)
    yield pool
    pool.stop_all()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(pool.logs())  # pytest shows it for a failed test


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def unreachable_database() -> Iterator[None]:
    """Point the connection at a port where no PostgreSQL listens, then put it back."""
    saved = dict(connection.settings_dict)
    connection.close()
    # An empty EMBEDDED_PGDATA stops the embedded backend from starting its own server instead.
    connection.settings_dict.update(HOST="127.0.0.1", PORT="9", EMBEDDED_PGDATA="")
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)

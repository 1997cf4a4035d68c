from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from stats_project.embedded_postgres.server import HELD_STOPPED
from tests.support.statistics import statistics_empty
from tests.support.workers import Workers

TESTS = Path(__file__).parent
# The folders by what their tests need: unit (no database), db (the test database, one file per
# module), workers (real worker processes and faults), acceptance (commands and HTTP, black-box).
WORKERS = TESTS / "workers"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks follow the folders: every test under tests/workers is `workers` (`make test-fast`
    leaves them out), and so is a test elsewhere that says `worker` or `faults` itself."""
    for item in items:
        if item.path.is_relative_to(WORKERS) or any(
            item.get_closest_marker(name) for name in ("worker", "faults")
        ):
            item.add_marker(pytest.mark.workers)


def pytest_sessionstart(session: pytest.Session) -> None:
    """The tests create the embedded server's data folder when it is missing, but a server
    stopped with `make db-stop` stays stopped for them too: say so once, not in every test."""
    from django.conf import settings

    pgdata = settings.DATABASES["default"].get("EMBEDDED_PGDATA")
    if pgdata and (Path(pgdata) / HELD_STOPPED).exists():
        pytest.exit(
            f"the embedded PostgreSQL server in {pgdata} was stopped with `make db-stop`: "
            "`make db-start` starts it again",
            returncode=2,
        )


@pytest.fixture(autouse=True)
def _empty_procrastinate_tables(
    request: pytest.FixtureRequest, django_db_blocker: Any
) -> Iterator[None]:
    """Procrastinate's tables and the statistics are unmanaged, so Django's flush between
    transactional tests leaves their rows; empty them so one test's jobs and boards never leak
    into the next."""
    yield
    marker = request.node.get_closest_marker("django_db")
    transactional = marker is not None and marker.kwargs.get("transaction")
    if transactional or "transactional_db" in request.fixturenames:
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE procrastinate_jobs, procrastinate_periodic_defers,"
                " procrastinate_workers RESTART IDENTITY CASCADE"
            )
            statistics_empty(cursor)


@pytest.fixture
def workers(
    transactional_db: None, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Workers]:
    """Real worker processes on the test database (the test's writes must commit to be seen)."""
    pool = Workers(tmp_path)
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

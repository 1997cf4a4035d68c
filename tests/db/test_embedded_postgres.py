"""The project's database backend (stats_project/embedded_postgres/base.py): a persistent
connection's health check asks the server only when the socket says the session may be over."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper

pytestmark = pytest.mark.django_db

LAST_QUERY = "SELECT pg_backend_pid() AS matchday_last_query"


@pytest.fixture
def other() -> Iterator[BaseDatabaseWrapper]:
    """A second connection to the test database, outside the test's transaction; its pid."""
    wrapper = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        yield wrapper
    finally:
        wrapper.close()


def backend_pid(wrapper: BaseDatabaseWrapper) -> int:
    with wrapper.cursor() as cursor:
        cursor.execute(LAST_QUERY)
        (pid,) = cursor.fetchone()
    return int(pid)


def last_query(pid: int) -> str | None:
    with connection.cursor() as cursor:
        # The test's transaction would otherwise see one snapshot of the statistics throughout.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return None if row is None else str(row[0])


def test_a_live_idle_connection_is_usable_without_a_query(other: BaseDatabaseWrapper) -> None:
    pid = backend_pid(other)
    assert other.is_usable()
    # The session's last statement is still ours: no SELECT 1 went to the server.
    assert last_query(pid) == LAST_QUERY


def test_a_connection_whose_session_the_server_ended_is_not_usable(
    other: BaseDatabaseWrapper,
) -> None:
    pid = backend_pid(other)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    deadline = time.monotonic() + 10
    while last_query(pid) is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert last_query(pid) is None, "the backend did not end"
    assert not other.is_usable()

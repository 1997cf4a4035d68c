from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection


@pytest.fixture(autouse=True)
def _empty_procrastinate_tables(request: pytest.FixtureRequest) -> Iterator[None]:
    """Procrastinate's tables are unmanaged, so Django's flush between transactional tests
    leaves their rows; empty them so one test's jobs never leak into the next."""
    yield
    marker = request.node.get_closest_marker("django_db")
    if marker and marker.kwargs.get("transaction"):
        with connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE procrastinate_jobs, procrastinate_periodic_defers,"
                " procrastinate_workers RESTART IDENTITY CASCADE"
            )

"""DATABASE_POOL turns on psycopg's pool (Django 5.1+): requests borrow and return connections."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.workers import web_script_answer

pytestmark = pytest.mark.django_db

# Ten requests in a row, as one gunicorn worker serves them, then what the pool saw.
# Through the WSGI application itself (the test client keeps its connection between requests).
SCRIPT = """
import json
from wsgiref.util import setup_testing_defaults
from django.core.wsgi import get_wsgi_application
application = get_wsgi_application()
from django.conf import settings
from django.db import connection

def get(path):
    environ = {"PATH_INFO": path, "HTTP_HOST": "localhost"}
    setup_testing_defaults(environ)
    answer = []
    body = application(environ, lambda status, headers: answer.append(status))
    b"".join(body)
    body.close()  # the end of the request: Django gives its connection back
    return int(answer[0].split()[0])

statuses = [get("/api/leaderboard") for _ in range(10)]
stats = connection.pool.get_stats() if connection.pool else {}
print(json.dumps({
    "statuses": statuses,
    "conn_max_age": settings.DATABASES["default"]["CONN_MAX_AGE"],
    "max_size": connection.pool.max_size if connection.pool else None,
    "connections_made": stats.get("connections_num"),
    "borrowed": stats.get("requests_num"),
}))
"""


def run_ten_requests(**environment: str) -> dict[str, Any]:
    return web_script_answer(SCRIPT, unset=("DATABASE_POOL", "CONN_MAX_AGE"), **environment)


def test_requests_share_the_pools_connection() -> None:
    # CONN_MAX_AGE would be refused beside a pool: the pool turns it off.
    answer = run_ten_requests(DATABASE_POOL="3", CONN_MAX_AGE="60")
    assert answer["statuses"] == [200] * 10
    assert answer["conn_max_age"] == 0
    assert answer["max_size"] == 3
    # The pool opens its min_size (1) as it starts, and may open one more meanwhile; then the
    # requests take turns on them instead of connecting each time.
    assert answer["connections_made"] in (1, 2)
    assert answer["borrowed"] >= 10


def test_without_the_setting_there_is_no_pool() -> None:
    answer = run_ten_requests()
    assert answer["statuses"] == [200] * 10
    assert answer["max_size"] is None

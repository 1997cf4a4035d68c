"""The public reads run as prepared statements on a persistent connection (planned once, not at
every request), unless DATABASE_PREPARED_STATEMENTS=false; the answers are the same either way,
304s included."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stats.sql import load_sql
from tests.support.leagues import scored_league
from tests.support.workers import web_script_answer

pytestmark = pytest.mark.django_db(transaction=True)

# Eight rounds of the public reads, as one gunicorn worker serves them (through the WSGI
# application, persistent connection), then what the server holds prepared for that connection.
SCRIPT = """
import json, sys
from wsgiref.util import setup_testing_defaults
from django.core.wsgi import get_wsgi_application
application = get_wsgi_application()
from django.db import connection

def get(path, **headers):
    path, _, query = path.partition("?")
    environ = {"PATH_INFO": path, "QUERY_STRING": query, "HTTP_HOST": "localhost", **headers}
    setup_testing_defaults(environ)
    answer = []
    body = application(environ, lambda status, headers: answer.append((status, dict(headers))))
    content = b"".join(body)
    body.close()
    return int(answer[0][0].split()[0]), answer[0][1].get("ETag", ""), content.decode()

user_id = int(sys.argv[1])
paths = ["/api/leaderboard", "/api/leaderboard?competition=premier", f"/api/users/{user_id}/stats"]
etag = get(paths[0])[1]
answers = []
for _ in range(8):
    answers.append([get(path) for path in paths])
    answers[-1].append(get(paths[0], HTTP_IF_NONE_MATCH=etag)[:2])
with connection.cursor() as cursor:
    cursor.execute(
        "SELECT split_part(statement, chr(10), 1), generic_plans + custom_plans"
        " FROM pg_prepared_statements ORDER BY 1"
    )
    prepared = cursor.fetchall()
print(json.dumps({"answers": answers, "prepared": prepared}))
"""


def read_eight_times(user_id: int, **environment: str) -> dict[str, Any]:
    return web_script_answer(
        SCRIPT,
        str(user_id),
        unset=("DATABASE_PREPARED_STATEMENTS",),
        CONN_MAX_AGE="60",
        **environment,
    )


def test_public_reads_are_prepared_and_answer_the_same() -> None:
    league = scored_league()
    prepared = read_eight_times(league.alice.pk)
    plain = read_eight_times(league.alice.pk, DATABASE_PREPARED_STATEMENTS="false")

    assert prepared["answers"] == plain["answers"]
    first = prepared["answers"][0]
    assert [status for status, _, _ in first[:3]] == [200, 200, 200]
    assert first[3] == [304, first[0][1]]
    assert json.loads(first[2][2])["overall"]["rank"] == 1
    assert prepared["answers"] == [first] * 8  # nothing refreshed meanwhile
    # Each statement is prepared at its sixth run on the connection, and runs prepared from
    # then on: the overall page ran 9 times (its ETag first), every other statement 8; the
    # overall and the competition page are two statements (their grains' texts differ).
    page, user_stats = (
        load_sql(f"boards/{name}").splitlines()[0] for name in ("page.sql", "user_stats.sql")
    )
    latest_refresh = "SELECT max(refreshed_at) AS latest FROM stats_viewrefresh WHERE view_name"
    latest_refresh += " = ANY($1)"
    assert sorted(map(tuple, prepared["prepared"])) == sorted(
        [
            (page, 3),
            (page, 4),
            (user_stats, 3),
            (latest_refresh, 3),
        ]
    )
    assert plain["prepared"] == []

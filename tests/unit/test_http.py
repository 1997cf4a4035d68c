"""stats.http's JSON answer: members encoded as JsonResponse encodes them, RawJSON ones as they
are (the board page's entries, built by PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from django.http import JsonResponse

from stats.http import RawJSON, json_answer


def test_a_json_answer_writes_raw_members_as_they_are_and_the_others_as_django_does() -> None:
    entries = '[{"rank" : 1, "user_id" : 7}]'
    members = {
        "competition": None,
        "entries": RawJSON(entries),
        "page": 2,
        "refreshed_at": datetime(2026, 12, 6, 10, 24, 29, 123456, tzinfo=UTC),
    }

    answer = json_answer(members)

    assert answer["Content-Type"] == "application/json"
    body = answer.content.decode()
    assert f'"entries": {entries},' in body
    expected = JsonResponse({**members, "entries": json.loads(entries)}).content
    assert json.loads(body) == json.loads(expected)
    assert list(json.loads(body)) == list(members)  # the members' order

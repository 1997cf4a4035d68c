"""docs/api.md, the players' part: every example is requested in order (each ```http request
block, then the ```json <status> block after it), on the league of the examples, signed in as
carol; the status and the fields (names, nesting, types) are the ones documented."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from stats import groups, players
from stats.processes import REPO_ROOT
from tests.acceptance.test_api_docs import shape_differences
from tests.support.factories import make_match
from tests.support.leagues import scored_league

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class PlayerExample:
    method: str
    path: str
    headers: dict[str, str]
    body: str
    status: int
    answer: Any


def player_examples() -> list[PlayerExample]:
    text = (REPO_ROOT / "docs" / "api.md").read_text()
    examples = []
    blocks = re.findall(r"```http request\n(.*?)```\s*```json (\d{3})\n(.*?)```", text, re.DOTALL)
    for request, status, answer in blocks:
        head, _, body = request.partition("\n\n")
        request_line, *header_lines = head.strip().splitlines()
        method, path = request_line.split()
        headers = dict(line.split(": ", 1) for line in header_lines)
        examples.append(
            PlayerExample(method, path, headers, body.strip(), int(status), json.loads(answer))
        )
    return examples


def test_every_players_endpoint_has_an_example() -> None:
    documented = {(example.method, example.path) for example in player_examples()}
    assert documented >= {
        ("POST", "/api/auth/token"),
        ("DELETE", "/api/auth/token"),
        ("PUT", "/api/matches/<MATCH>/prediction"),
        ("GET", "/api/me/predictions"),
        ("GET", "/api/me"),
        ("GET", "/api/matches/<PLAYED>/summary"),
        ("POST", "/api/groups"),
        ("POST", "/api/groups/join"),
        ("GET", "/api/groups"),
        ("GET", "/api/groups/<GROUP>/leaderboard"),
        ("POST", "/api/groups/<OWNED>/join-code"),
        ("DELETE", "/api/groups/<OWNED>/members/<DAVE>"),
        ("POST", "/api/groups/<OWNED>/owner"),
        ("POST", "/api/groups/<OWNED>/leave"),
    }


def test_the_players_examples_answer_as_documented() -> None:
    league = scored_league()
    upcoming = make_match(league.premier, round=3)
    played = league.premier.matches.order_by("round").first()
    assert played is not None
    friends = groups.group_create(owner=league.dave, name="Friends")
    groups.group_join(user=league.bob, join_code=friends.join_code)
    office = groups.group_create(owner=league.carol, name="Office")
    for member in (league.bob, league.dave):
        groups.group_join(user=member, join_code=office.join_code)
    values = {
        "<TOKEN>": players.token_issue(user=league.carol, name="docs").secret,
        "<MATCH>": str(upcoming.pk),
        "<PLAYED>": str(played.pk),
        "<JOIN_CODE>": friends.join_code,
        "<GROUP>": friends.slug,
        "<OWNED>": office.slug,
        "<DAVE>": str(league.dave.pk),
        "<BOB>": str(league.bob.pk),
    }

    def filled(text: str) -> str:
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        return text

    client = Client()
    examples = player_examples()
    assert examples
    for example in examples:
        headers = {name: filled(value) for name, value in example.headers.items()}
        content_type = headers.pop("Content-Type", "application/json")
        response = client.generic(
            example.method,
            filled(example.path),
            filled(example.body),
            content_type=content_type,
            headers=headers,
        )
        where = f"{example.method} {example.path}"
        assert response.status_code == example.status, (where, response.content)
        assert response["Content-Type"] == "application/json", where
        assert shape_differences(example.answer, response.json()) == [], where

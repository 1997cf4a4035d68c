"""docs/api.md: every documented example is requested, and the fields it shows (names, nesting,
types) are exactly the fields the endpoint returns."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from pytest_django import Settings

from stats.processes import REPO_ROOT
from tests.support.jobs import insert_worker
from tests.support.leagues import scored_league

pytestmark = pytest.mark.django_db

SECRET = "cron-" + "s" * 40
TOKEN = "metrics-" + "t" * 40
PLACEHOLDERS = {"<CRON_SECRET>": SECRET, "<METRICS_TOKEN>": TOKEN}


@dataclass(frozen=True)
class Example:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


def documented_examples() -> list[Example]:
    """Each ```http block (request line, then headers) and the ```json block right after it."""
    text = (REPO_ROOT / "docs" / "api.md").read_text()
    examples = []
    for request, body in re.findall(r"```http\n(.*?)```\s*```json\n(.*?)```", text, re.DOTALL):
        request_line, *header_lines = request.strip().splitlines()
        method, path = request_line.split()
        headers = {}
        for line in header_lines:
            name, value = line.split(": ", 1)
            for placeholder, secret in PLACEHOLDERS.items():
                value = value.replace(placeholder, secret)
            headers[name] = value
        examples.append(Example(method, path, headers, json.loads(body)))
    return examples


def shape_differences(documented: Any, returned: Any, where: str = "") -> list[str]:
    """Where the returned JSON's fields differ from the documented ones: missing or extra keys,
    and values of another type (a documented null matches anything; each element of a documented
    list is compared with the first returned element)."""
    if isinstance(documented, dict):
        if not isinstance(returned, dict):
            return [f"{where or 'the body'}: an object was documented, {returned!r} returned"]
        differences = [
            f"{where}.{key}: documented, not returned"
            for key in documented.keys() - returned.keys()
        ]
        differences += [
            f"{where}.{key}: returned, not documented"
            for key in returned.keys() - documented.keys()
        ]
        for key in documented.keys() & returned.keys():
            differences += shape_differences(documented[key], returned[key], f"{where}.{key}")
        return differences
    if isinstance(documented, list):
        if isinstance(returned, list) and not documented:
            return []
        if not isinstance(returned, list) or not returned:
            return [f"{where}: a non-empty list was documented, {returned!r} returned"]
        return [
            difference
            for element in documented
            for difference in shape_differences(element, returned[0], f"{where}[]")
        ]
    if documented is None or returned is None:
        return []
    numbers = (int, float)
    if isinstance(documented, numbers) and isinstance(returned, numbers):
        same = isinstance(documented, bool) == isinstance(returned, bool)
    else:
        same = type(documented) is type(returned)
    return [] if same else [f"{where}: {documented!r} documented, {returned!r} returned"]


def test_every_endpoint_is_documented_with_an_example() -> None:
    """One example at least for each endpoint of the API, the boards' three kinds included."""
    requests = {(example.method, example.path.split("?")[0]) for example in documented_examples()}
    paths = {example.path for example in documented_examples()}
    assert requests >= {
        ("GET", "/api/leaderboard"),
        ("POST", "/api/cron/update-stats"),
        ("GET", "/health"),
    }
    assert any(re.fullmatch(r"/api/users/\d+/stats", path) for path in paths)
    assert {"/api/leaderboard?competition=cup", "/api/leaderboard?competition=premier&round=2"} <= (
        paths
    )


@pytest.mark.parametrize(
    "example", documented_examples(), ids=lambda example: f"{example.method} {example.path}"
)
def test_the_documented_fields_are_the_returned_ones(
    client: Client, settings: Settings, example: Example
) -> None:
    """The example's request, made on the league the examples come from, answers with exactly
    the documented fields."""
    scored_league()
    insert_worker()  # alive, as in production: /health is then healthy
    settings.CRON_SECRET = SECRET
    settings.METRICS_TOKEN = TOKEN
    path = example.path
    if user := re.fullmatch(r"/api/users/\d+/stats", path) and example.body["user"]["username"]:
        path = f"/api/users/{User.objects.get(username=user).pk}/stats"
    response = client.generic(example.method, path, headers=example.headers)
    assert response["Content-Type"] == "application/json"
    assert shape_differences(example.body, response.json()) == []

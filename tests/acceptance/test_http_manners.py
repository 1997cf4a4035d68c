"""HTTP manners, on every endpoint the URLconf has (so endpoints added later are covered too):
a wrong method is 405 with `Allow` (never a CSRF page), HEAD is answered wherever GET is, too
many parameters are a 400, and every answer under /api/ is JSON with one error shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, include, path
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from pytest_django import Settings

from stats.http import allow_methods
from tests.support.cron import CRON_SECRET, CRON_URL
from tests.support.jobs import insert_worker
from tests.support.leagues import scored_league

pytestmark = pytest.mark.django_db

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
TOO_MANY = "&".join(f"p{index}=1" for index in range(1001))


def endpoints(patterns: list[Any] | None = None, prefix: str = "/") -> Iterator[str]:
    """Each path the URLconf serves outside the admin, path parameters filled with `1`."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = str(pattern.pattern)
        if route.startswith("admin/"):
            continue
        for name in getattr(pattern.pattern, "converters", {}):
            route = route.replace(f"<str:{name}>", "1").replace(f"<int:{name}>", "1")
            route = route.replace(f"<{name}>", "1").replace(f"<slug:{name}>", "1")
        if isinstance(pattern, URLResolver):
            yield from endpoints(pattern.url_patterns, prefix + route)
        elif isinstance(pattern, URLPattern):
            yield prefix + route


ENDPOINTS = sorted(endpoints())


def is_json_error(response: Any) -> bool:
    if not response["Content-Type"].startswith("application/json"):
        return False
    body = json.loads(response.content)
    return isinstance(body, dict) and isinstance(body.get("error"), str) and bool(body["error"])


@pytest.fixture
def browser(settings: Settings) -> Client:
    """A client that, like a browser, is held to CSRF (the test client is not by default)."""
    settings.CRON_SECRET = CRON_SECRET
    settings.METRICS_TOKEN = "metrics-" + "t" * 40
    scored_league()
    insert_worker()
    return Client(enforce_csrf_checks=True, raise_request_exception=False)


def test_the_urlconf_has_the_endpoints_walked() -> None:
    assert {"/api/leaderboard", "/api/users/1/stats", CRON_URL, "/health", "/leaderboard/"} <= set(
        ENDPOINTS
    )


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_wrong_method_is_405_with_allow_never_a_csrf_page(
    browser: Client, endpoint: str
) -> None:
    """Before: POST and DELETE on the read endpoints and /health answered 403 "CSRF verification
    failed" (an HTML page); HEAD answered 405 everywhere, /health included."""
    answers = {method: browser.generic(method, endpoint) for method in METHODS}
    allowed = {method for method, response in answers.items() if response.status_code != 405}
    assert allowed, endpoint
    # A page that takes a form (sign-in, predict) refuses a write without its CSRF token: a
    # method it takes, so that 403 is right; a method it does not take never gets one.
    offered_writes = {
        name.strip()
        for response in answers.values()
        if response.status_code == 405
        for name in response["Allow"].split(",")
    } - {"GET", "HEAD"}
    for method, response in answers.items():
        assert response.status_code != 403 or method in offered_writes, (
            method,
            endpoint,
            response.content[:200],
        )
        if response.status_code == 405:
            offered = {name.strip() for name in response["Allow"].split(",")}
            assert method not in offered
            assert offered == allowed, (method, endpoint)
        if endpoint.startswith("/api/") and response.status_code >= 400 and method != "HEAD":
            assert is_json_error(response), (method, endpoint, response.content[:200])
    if "GET" in allowed:
        assert "HEAD" in allowed, endpoint


@pytest.mark.parametrize("endpoint", ["/health", "/api/leaderboard", "/leaderboard/"])
def test_head_is_answered_like_get_without_a_body(browser: Client, endpoint: str) -> None:
    """Load balancers probe /health with HEAD."""
    get, head = browser.get(endpoint), browser.head(endpoint)
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head["Content-Type"] == get["Content-Type"]


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE"])
def test_the_cron_endpoint_refuses_other_methods_with_a_json_405(
    browser: Client, method: str
) -> None:
    """Before: GET on the cron endpoint answered 405 with an empty body."""
    response = browser.generic(method, CRON_URL, headers={"Authorization": f"Bearer {CRON_SECRET}"})
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    if method != "HEAD":
        assert response.json() == {"error": f"{method} is not allowed here; use POST"}


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("endpoint", ["/api/leaderboard", "/api/users/1/stats", "/health"])
def test_too_many_parameters_are_a_json_400(
    browser: Client, settings: Settings, debug: bool, endpoint: str
) -> None:
    """More than DATA_UPLOAD_MAX_NUMBER_FIELDS (1,000) parameters. Before: a 500 under
    `make web` (DEBUG on) and an HTML 400 in production."""
    settings.DEBUG = debug
    response = browser.get(f"{endpoint}?{TOO_MANY}")
    assert response.status_code == 400
    assert response.json() == {
        "error": "too many parameters: at most 1000 are read (DATA_UPLOAD_MAX_NUMBER_FIELDS)"
    }


@pytest.mark.parametrize("debug", [False, True])
def test_too_many_parameters_on_the_page_are_a_plain_400(
    browser: Client, settings: Settings, debug: bool
) -> None:
    settings.DEBUG = debug
    response = browser.get(f"/leaderboard/?{TOO_MANY}")
    assert response.status_code == 400
    assert response.content.startswith(b"too many parameters")


@pytest.mark.parametrize("debug", [False, True])
def test_an_unknown_api_path_is_a_json_404(
    browser: Client, settings: Settings, debug: bool
) -> None:
    settings.DEBUG = debug
    response = browser.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.json() == {"error": "not found: no endpoint has this path"}


# --- Endpoints written another way: a class-based view, and an API library's views ---------------


class BoardView(View):
    def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse({"board": []})


@csrf_exempt
def library_view(request: HttpRequest) -> HttpResponse:
    """As an API library answers: its own method dispatch (405 with an empty body), errors as
    `{"detail": ...}`, validation errors as 422."""
    if request.method == "PUT":
        return JsonResponse(
            {"detail": [{"loc": ["body", "home_score"], "msg": "required"}]}, status=422
        )
    if request.method == "DELETE":
        return JsonResponse({"detail": "Unauthorized"}, status=401)
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET", "PUT", "DELETE"])
    return JsonResponse({"ok": True})


@allow_methods("POST")
def form_view(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"fields": len(request.POST)})


def crashing_view(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug")


urlpatterns = [
    path("api/board", BoardView.as_view()),
    path("api/library", library_view),
    path("api/crash", crashing_view),
    path("api/form", form_view),
    path("", include("stats_project.urls")),
]


@pytest.mark.urls(__name__)
def test_a_class_based_view_gets_the_same_manners() -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.head("/api/board").status_code == 200
    response = client.post("/api/board")
    assert response.status_code == 405
    assert {name.strip() for name in response["Allow"].split(",")} >= {"GET", "HEAD"}
    assert response.json()["error"].startswith("POST is not allowed here; use GET")


@pytest.mark.urls(__name__)
def test_an_api_librarys_answers_take_the_one_error_shape() -> None:
    client = Client(enforce_csrf_checks=True)
    head = client.head("/api/library")
    assert (head.status_code, head.content) == (200, b"")
    not_allowed = client.post("/api/library")
    assert not_allowed.status_code == 405
    assert not_allowed.json() == {"error": "POST is not allowed here; use GET, PUT, DELETE"}
    unauthorized = client.delete("/api/library")
    assert (unauthorized.status_code, unauthorized.json()) == (
        401,
        {"error": "Unauthorized", "detail": "Unauthorized"},
    )
    invalid = client.put("/api/library")
    assert invalid.status_code == 400
    assert invalid.json()["error"] == "bad request: body.home_score: required"
    assert invalid.json()["detail"] == [{"loc": ["body", "home_score"], "msg": "required"}]


@pytest.mark.urls(__name__)
def test_a_crash_under_api_is_a_json_500() -> None:
    client = Client(raise_request_exception=False)
    response = client.get("/api/crash")
    assert response.status_code == 500
    assert response.json() == {"error": "internal server error"}


@pytest.mark.urls(__name__)
def test_too_many_form_fields_in_a_body_under_api_are_a_json_400() -> None:
    """Read by CSRF's check, before the view: Django's HTML 400 takes the JSON shape."""
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    client.cookies["csrftoken"] = "c" * 32  # past the cookie check, CSRF reads the form
    response = client.post("/api/form", TOO_MANY, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert response.json() == {"error": "bad request: the request is malformed or too large"}


@pytest.mark.urls(__name__)
def test_a_refused_csrf_check_under_api_is_json() -> None:
    response = Client(enforce_csrf_checks=True).post("/api/form", {"a": "1"})
    assert response.status_code == 403
    assert response.json() == {
        "error": "CSRF verification failed (CSRF cookie not set.): a write from a signed-in "
        "browser session must carry the CSRF token"
    }

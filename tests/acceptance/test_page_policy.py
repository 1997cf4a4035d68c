"""The answers' security headers and what staff are offered: a Content-Security-Policy the page
and the admin work under, `WWW-Authenticate: Bearer` on the cron 401, no "Refresh stats now"
button for staff who may not press it."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from pytest_django.live_server_helper import LiveServer

from stats.models import Match
from tests.support.browser import launch_chromium, needs_chromium, signed_in_context
from tests.support.factories import make_user
from tests.support.leagues import scored_league

pytestmark = pytest.mark.django_db

NONCE = re.compile(r"script-src 'self' 'nonce-([A-Za-z0-9_-]{16,})'")
INLINE_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
SCRIPT_TAG = re.compile(r"<script\b[^>]*>", re.IGNORECASE)


def policy(response: object) -> str:
    header = getattr(response, "headers", {}).get("Content-Security-Policy")
    assert header, "no Content-Security-Policy"
    return str(header)


def test_every_answer_carries_the_policy(client: Client, admin_client: Client) -> None:
    """Before: no Content-Security-Policy on any answer."""
    scored_league()
    for response in (
        client.get("/leaderboard/"),
        client.get("/api/leaderboard"),
        client.get("/api/leaderboard?page=99"),
        client.get("/admin/login/"),
        admin_client.get("/admin/"),
    ):
        header = policy(response)
        assert NONCE.search(header)
        for directive in ("default-src 'self'", "object-src 'none'", "frame-ancestors 'none'"):
            assert directive in header
        assert "'unsafe-inline'" not in header.split("script-src", 1)[1].split(";", 1)[0]


def test_the_page_runs_only_the_script_its_answer_allows(client: Client) -> None:
    """The picker's script carries this answer's nonce (a fresh one each time); no inline event
    handler is left (before: `onchange=` on the competition picker, which a policy blocks)."""
    scored_league()
    nonces = []
    for _ in range(2):
        response = client.get("/leaderboard/")
        html = response.content.decode()
        match = NONCE.search(policy(response))
        assert match
        nonces.append(match.group(1))
        assert SCRIPT_TAG.findall(html) == [f'<script nonce="{match.group(1)}">']
        assert not INLINE_HANDLER.search(html)
    assert nonces[0] != nonces[1]


def test_a_304_leaves_the_policy_of_the_copy_it_revalidates(client: Client) -> None:
    """A browser puts a 304's headers on the copy it keeps: a policy with a fresh nonce there
    would block the copy's script, whose nonce is the first answer's. So a 304 carries none."""
    scored_league()
    first = client.get("/leaderboard/")
    again = client.get("/leaderboard/", HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    assert "Content-Security-Policy" not in again.headers
    assert NONCE.search(policy(client.get("/api/leaderboard?page=99")))  # errors keep theirs


def test_the_admin_pages_load_every_script_from_a_file(admin_client: Client) -> None:
    """So the policy (scripts from this site or with the nonce) leaves the admin working."""
    scored_league()
    match = Match.objects.first()
    assert match is not None
    for url in (
        reverse("admin:index"),
        reverse("admin:stats_match_changelist"),
        reverse("admin:stats_match_change", args=[match.pk]),
        reverse("admin:stats_match_add"),
        reverse("admin:stats_viewrefresh_changelist"),
        reverse("admin:procrastinate_procrastinatejob_changelist"),
    ):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        scripts = SCRIPT_TAG.findall(html)
        assert scripts, url
        assert all(" src=" in tag for tag in scripts), (url, scripts)
        assert not INLINE_HANDLER.search(html), url


def test_the_cron_401_names_the_bearer_scheme(client: Client, settings: object) -> None:
    """Before: a 401 without `WWW-Authenticate` (RFC 9110 requires one)."""
    settings.CRON_SECRET = "c" * 40  # type: ignore[attr-defined]
    response = client.post("/api/cron/update-stats", HTTP_AUTHORIZATION="Bearer wrong")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json() == {"error": "Unauthorized"}


@pytest.mark.parametrize(("codenames", "shown"), [(["view_viewrefresh"], False), ([], True)])
def test_the_refresh_now_button_is_offered_to_those_who_may_press_it(
    client: Client, codenames: list[str], shown: bool
) -> None:
    """Before: a viewer saw the button, and pressing it answered an empty 403."""
    user = make_user(is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            codename__in=codenames or ["view_viewrefresh", "change_viewrefresh"]
        )
    )
    client.force_login(user)
    response = client.get(reverse("admin:stats_viewrefresh_changelist"))
    assert response.status_code == 200
    assert (b"Refresh stats now" in response.content) is shown


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@needs_chromium
def test_the_admin_works_under_the_policy_in_a_browser(live_server: LiveServer) -> None:
    """In headless Chromium: the admin's scripts run (the select-all box of the match list
    ticks every row) and the browser reports no policy violation on the admin's pages."""
    scored_league()
    staff = make_user(is_staff=True, is_superuser=True)
    visitor = Client()
    visitor.force_login(staff)
    session_cookie = visitor.cookies[settings.SESSION_COOKIE_NAME].value
    matches = Match.objects.count()
    violations: list[str] = []
    # No ORM calls inside: Playwright's sync API runs an event loop, in which Django refuses them.
    run_the_admin_in_chromium(live_server.url, session_cookie, matches, violations)
    assert violations == []


def run_the_admin_in_chromium(
    url: str, session_cookie: str, matches: int, violations: list[str]
) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        context = signed_in_context(browser, url, session_cookie)
        page = context.new_page()
        page.on(
            "console",
            lambda message: (
                violations.append(message.text)
                if "Content Security Policy" in message.text
                else None
            ),
        )
        for path in ("/admin/", "/admin/stats/match/add/", "/admin/stats/viewrefresh/"):
            page.goto(f"{url}{path}")
        page.goto(f"{url}/admin/stats/match/")
        page.check("#action-toggle")
        assert page.locator("input.action-select:checked").count() == matches
        browser.close()

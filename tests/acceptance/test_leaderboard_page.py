"""The HTML leaderboard page: rendered by the server, and driven end to end in a real browser."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from pytest_django.live_server_helper import LiveServer

from tests.support.browser import launch_chromium, needs_chromium, signed_in_context
from tests.support.leagues import scored_league


def test_the_site_root_leads_to_the_board(client: Client) -> None:
    answer = client.get("/")
    assert (answer.status_code, answer["Location"]) == (302, "/leaderboard/")
    assert client.head("/").status_code == 302
    refused = client.post("/")
    assert (refused.status_code, refused["Allow"]) == (405, "GET, HEAD")


@pytest.mark.django_db
def test_page_shows_the_board_with_ranks_and_the_last_refresh(client: Client) -> None:
    """Every player with their rank, the pickers' choices, and when the board was refreshed."""
    scored_league()
    response = client.get("/leaderboard/")
    assert response.status_code == 200
    html = response.content.decode()
    for fragment in (
        '<td class="rank">1</td>\n        <td class="name">alice</td>',
        '<td class="rank">4</td>\n        <td class="name">carol</td>',
        '<option value="premier">Premier League</option>',
        '<option value="cup">Cup</option>',
        "Last refreshed <time",
        "Page 1 of 1 · 4 players",
    ):
        assert fragment in html
    assert 'class="me"' not in html


@pytest.mark.django_db
def test_page_highlights_the_logged_in_players_row(client: Client) -> None:
    """A logged-in player sees their own row marked, and their rank above the board."""
    league = scored_league()
    client.force_login(league.dave)
    html = client.get("/leaderboard/").content.decode()
    assert (
        '<tr class="me" aria-current="true">\n        <td class="rank">3</td>\n'
        '        <td class="name">dave</td>'
    ) in html
    assert html.count('class="me"') == 1
    assert "You are ranked <strong>#3</strong> with 3 points." in html


@pytest.mark.django_db
def test_page_shows_movement_since_the_latest_round(client: Client) -> None:
    """The overall and competition boards show each player's movement since the board's latest
    round (the group page's arrows); a round's board, where nothing came before, has no column."""
    scored_league()
    html = client.get("/leaderboard/").content.decode()
    # The cup final came last: dave rose from 4th to 3rd past carol; alice and bob stayed.
    assert 'title="was 4">▲1</td>' in html
    assert 'title="was 3">▼1</td>' in html
    assert html.count('title="was 1">=</td>') == 2
    premier = client.get("/leaderboard/", {"competition": "premier"}).content.decode()
    assert "Movement since the latest round" in premier
    assert 'title="was 2">=</td>' not in premier  # bob: 2nd before round 2, level 1st now
    assert 'title="was 2">▲1</td>' in premier
    round_board = client.get("/leaderboard/", {"competition": "premier", "round": "2"})
    assert "Movement since the latest round" not in round_board.content.decode()


@pytest.mark.django_db
def test_page_for_a_round_offers_the_competitions_rounds(client: Client) -> None:
    """Picking a competition lists its rounds; the chosen ones stay selected."""
    scored_league()
    html = client.get("/leaderboard/", {"competition": "premier", "round": "2"}).content.decode()
    assert '<option value="premier" selected>Premier League</option>' in html
    assert '<option value="1">Round 1</option>' in html
    assert '<option value="2" selected>Round 2</option>' in html
    assert "<h1>Leaderboard: Premier League, Round 2</h1>" in html


@pytest.mark.django_db
def test_page_links_to_its_neighbours_keeping_the_choice(client: Client) -> None:
    """Previous and next keep the competition and page size; the ends have no link outward."""
    scored_league()
    first = client.get("/leaderboard/", {"competition": "premier", "page_size": "2"})
    last = client.get("/leaderboard/", {"competition": "premier", "page_size": "2", "page": "2"})
    assert (
        '<a href="?competition=premier&amp;page_size=2&amp;page=2">Next' in first.content.decode()
    )
    assert "Previous" not in first.content.decode()
    assert '<a href="?competition=premier&amp;page_size=2&amp;page=1">' in last.content.decode()
    assert "Next" not in last.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"page": "0"}, 400, "page must be a whole number from 1 to 2147483647, not &#x27;0&#x27;"),
        ({"round": "1"}, 400, "round needs a competition"),
        ({"competition": "nope"}, 404, "no competition has the slug &#x27;nope&#x27;"),
        ({"page": "9"}, 404, "page 9 is past the end"),
    ],
)
def test_page_explains_a_bad_choice(
    client: Client, params: dict[str, str], status: int, message: str
) -> None:
    """The same reasons as the API, shown on the page (escaped) with the picker still there."""
    scored_league()
    response = client.get("/leaderboard/", params)
    assert response.status_code == status
    html = response.content.decode()
    assert message in html
    assert '<select name="competition"' in html


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@needs_chromium
def test_browser_renders_the_board_and_the_picker_switches_it(
    live_server: LiveServer, tmp_path: Path
) -> None:
    """In headless Chromium: the board shows ranks with my row highlighted; choosing another
    competition in the picker reloads the page with that competition's board."""
    from playwright.sync_api import expect, sync_playwright

    league = scored_league()
    visitor = Client()
    visitor.force_login(league.carol)
    session_cookie = visitor.cookies[settings.SESSION_COOKIE_NAME].value
    # No ORM calls below: Playwright's sync API runs an event loop, in which Django refuses them.
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        context = signed_in_context(browser, live_server.url, session_cookie)
        page = context.new_page()
        page.goto(f"{live_server.url}/leaderboard/")

        board = page.locator("#board tbody tr")
        expect(board).to_have_count(4)
        assert page.locator("#board td.rank").all_inner_texts() == ["1", "1", "3", "4"]
        assert page.locator("#board td.name").all_inner_texts() == [
            "alice",
            "bob",
            "dave",
            "carol",
        ]
        expect(page.locator("#board tr.me td.name")).to_have_text("carol")
        expect(page.locator("#refreshed")).to_contain_text("Last refreshed")

        page.select_option("#competition", "cup")
        page.wait_for_url("**/leaderboard/?competition=cup**")
        expect(page.locator("h1")).to_have_text("Leaderboard: Cup")
        expect(board).to_have_count(2)
        assert page.locator("#board td.rank").all_inner_texts() == ["1", "2"]
        assert page.locator("#board td.name").all_inner_texts() == ["dave", "carol"]
        expect(page.locator("#board tr.me td.rank")).to_have_text("2")

        page.select_option("#round", "1")
        page.click("form.picker button[type=submit]")
        page.wait_for_url("**round=1**")
        expect(page.locator("h1")).to_have_text("Leaderboard: Cup, Round 1")
        page.screenshot(path=tmp_path / "leaderboard.png", full_page=True)
        browser.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@needs_chromium
def test_the_picker_still_works_on_a_page_the_browser_revalidated(live_server: LiveServer) -> None:
    """A second visit revalidates the page (a 304) and shows the browser's copy, whose script
    carries the first answer's nonce: the script still runs and the picker switches the board.
    Before: the 304 brought a policy with a fresh nonce, which the browser put on its copy, so
    the policy blocked the picker's script on every revisit."""
    from playwright.sync_api import Request, expect, sync_playwright

    league = scored_league()
    visitor = Client()
    visitor.force_login(league.carol)
    session_cookie = visitor.cookies[settings.SESSION_COOKIE_NAME].value
    url = f"{live_server.url}/leaderboard/"
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        context = signed_in_context(browser, url, session_cookie)
        page = context.new_page()
        page.goto(url)
        revisits: list[Request] = []
        page.on("request", lambda request: revisits.append(request))
        blocked: list[str] = []
        page.on(
            "console",
            lambda message: (
                blocked.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        page.goto(url)
        # The browser revalidated its copy (the server answers that with a 304).
        assert "if-none-match" in revisits[0].all_headers()

        page.select_option("#competition", "cup")
        page.wait_for_url("**/leaderboard/?competition=cup**", timeout=10_000)
        expect(page.locator("h1")).to_have_text("Leaderboard: Cup")
        assert blocked == []
        browser.close()

"""The players' pages, server-rendered: predict, my groups, a group's board with movement, the
leaderboard's own row and jump to it, thousands separators, round names as the feed names them;
and in a real browser at 375 and 1280 px, nothing cut off (screenshots kept in tmp_path)."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from pytest_django.live_server_helper import LiveServer

from stats import groups
from stats.models import Match, Prediction, RoundName
from stats.templatetags.matchday import movement, thousands
from tests.support.browser import launch_chromium, needs_chromium, signed_in_context
from tests.support.factories import make_match, make_prediction, make_user
from tests.support.leagues import scored_league


def signed_in(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


def test_thousands_and_movement_filters() -> None:
    assert [thousands(n) for n in (7, 1234, 1234567, None, "x")] == [
        "7",
        "1,234",
        "1,234,567",
        "",
        "x",
    ]
    assert [
        movement({"rank": rank, "previous_rank": previous})
        for rank, previous in ((2, 5), (4, 1), (3, 3), (1, None))
    ] == ["▲3", "▼3", "=", ""]


@pytest.mark.django_db
def test_pages_ask_to_sign_in() -> None:
    for path in ("/predict/", "/groups/", "/groups/anything-1/"):
        response = Client().get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=")


@pytest.mark.django_db
def test_the_predict_page_saves_open_matches_and_explains_closed_ones() -> None:
    player = make_user("pat")
    open_match = make_match()
    later = make_match(kickoff_at=timezone.now() + timedelta(days=2))
    closed = make_match(kickoff_at=timezone.now() + timedelta(hours=1))
    client = signed_in(player)
    page = client.get("/predict/").content.decode()
    for match in (open_match, later, closed):
        assert f'name="home-{match.pk}"' in page
    # The third match kicks off while the form is open.
    Match.objects.filter(pk=closed.pk).update(kickoff_at=timezone.now() - timedelta(minutes=1))
    response = client.post(
        "/predict/",
        {
            f"home-{open_match.pk}": "2",
            f"away-{open_match.pk}": "1",
            f"home-{later.pk}": "",
            f"away-{later.pk}": "",
            f"home-{closed.pk}": "1",
            f"away-{closed.pk}": "1",
        },
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "1 prediction saved." in html
    assert f"predictions for match {closed.pk}" in html
    assert "it kicked off at" in html
    assert list(Prediction.objects.values_list("match_id", "home_score", "away_score")) == [
        (open_match.pk, 2, 1)
    ]
    # The saved prediction shows; the closed match is listed no more (nothing predicted there).
    again = client.get("/predict/").content.decode()
    assert f'name="home-{open_match.pk}" inputmode="numeric"' in again
    assert 'value="2"' in again
    assert f'name="home-{closed.pk}"' not in again


@pytest.mark.django_db
def test_the_predict_page_shows_closed_predictions_locked_with_points() -> None:
    league = scored_league()
    html = signed_in(league.alice).get("/predict/").content.decode()
    assert 'class="locked"' in html
    assert "disabled" in html
    assert "completed 2\N{EN DASH}1" in html


@pytest.mark.django_db
def test_a_bad_score_on_the_predict_page_is_explained() -> None:
    match = make_match()
    response = signed_in(make_user()).post(
        "/predict/", {f"home-{match.pk}": "-1", f"away-{match.pk}": "x"}
    )
    assert response.status_code == 400
    assert "scores are whole numbers from 0 to 99" in response.content.decode()
    assert not Prediction.objects.exists()


@pytest.mark.django_db
def test_groups_page_creates_and_joins() -> None:
    olga, pat = make_user("olga"), make_user("pat")
    created = signed_in(olga).post("/groups/", {"name": "Office"})
    assert created.status_code == 302
    group = groups.player_group_list(user_id=olga.pk)[0]
    assert created["Location"] == f"/groups/{group['slug']}/"
    code = signed_in(olga).get(created["Location"]).content.decode()
    join_code = code.split('<code id="join-code">')[1].split("</code>")[0]
    joined = signed_in(pat).post("/groups/", {"join_code": join_code})
    assert joined.status_code == 302
    listing = signed_in(pat).get("/groups/").content.decode()
    assert "Office</a> · 2 members" in listing
    wrong = signed_in(pat).post("/groups/", {"join_code": "nope"})
    assert wrong.status_code == 400
    assert "no group has this join code" in wrong.content.decode()


@pytest.mark.django_db
def test_a_groups_page_shows_its_board_with_movement_to_members_only() -> None:
    league = scored_league()
    group = groups.group_create(owner=league.bob, name="Friends")
    for member in (league.carol, league.dave):
        groups.group_join(user=member, join_code=group.join_code)
    html = signed_in(league.carol).get(f"/groups/{group.slug}/").content.decode()
    assert "<h1>Friends</h1>" in html
    # dave rose from 3rd to 2nd with the cup final; carol fell from 2nd to 3rd.
    assert '<td class="name">dave</td>' in html
    assert 'title="was 3">▲1</td>' in html
    assert 'title="was 2">▼1</td>' in html
    assert 'class="me" aria-current="true"' in html
    assert signed_in(league.alice).get(f"/groups/{group.slug}/").status_code == 404
    cup = signed_in(league.carol).get(f"/groups/{group.slug}/", {"competition": "cup"})
    assert cup.status_code == 200
    bad = signed_in(league.carol).get(f"/groups/{group.slug}/", {"page": "0"})
    assert bad.status_code == 400


@pytest.mark.django_db
def test_the_leaderboard_jumps_to_the_signed_in_players_page() -> None:
    """carol is 4th of 4: with two a page, her row is on page 2, and page 1 links to it."""
    league = scored_league()
    client = signed_in(league.carol)
    first = client.get("/leaderboard/", {"page_size": "2"}).content.decode()
    assert "You are ranked <strong>#4</strong> with 3 points." in first
    assert '<a id="my-page" href="?page_size=2&amp;page=2#me">' in first
    second = client.get("/leaderboard/", {"page_size": "2", "page": "2"}).content.decode()
    assert 'id="my-page"' not in second
    assert '<tr class="me" aria-current="true">' in second


@pytest.mark.django_db
def test_a_player_not_on_the_board_is_told_how_to_get_there() -> None:
    scored_league()
    html = signed_in(make_user()).get("/leaderboard/").content.decode()
    assert "You are not on this board yet" in html


@pytest.mark.django_db
def test_counts_have_thousands_separators() -> None:
    league = scored_league()
    html = Client().get("/leaderboard/", {"page_size": "1", "page": "1"}).content.decode()
    assert "Page 1 of 4 · 4 players" in html
    assert thousands(12_345) == "12,345"
    assert league.alice.username in html


@pytest.mark.django_db
def test_round_names_are_the_feeds(tmp_path: Path) -> None:
    """The Champions League's knockout rounds by their names, not "Round 11"."""
    feed = tmp_path / "uefa.cl.json"
    feed.write_text(
        json.dumps(
            {
                "name": "Cup of Champions 2030/31",
                "matches": [
                    {
                        "round": "League, Matchday 1",
                        "date": "2030-09-16",
                        "team1": "A",
                        "team2": "B",
                        "score": {},
                    },
                    {
                        "round": "Round of 16",
                        "date": "2031-03-04",
                        "team1": "B",
                        "team2": "A",
                        "score": {},
                    },
                ],
            }
        )
    )
    call_command("sync_matches", str(feed), stdout=io.StringIO())
    assert sorted(RoundName.objects.values_list("round", "name")) == [
        (1, "League, Matchday 1"),
        (2, "Round of 16"),
    ]
    match = Match.objects.get(round=2)
    make_prediction(make_user(), match, 1, 0)
    html = Client().get("/leaderboard/", {"competition": match.competition.slug}).content
    assert '<option value="2">Round of 16</option>' in html.decode()
    board = Client().get("/leaderboard/", {"competition": match.competition.slug, "round": "2"})
    assert f"<h1>Leaderboard: {match.competition.name}, Round of 16</h1>" in board.content.decode()
    # A second run changes nothing, names included.
    out = io.StringIO()
    call_command("sync_matches", str(feed), stdout=out)
    assert "2 unchanged" in out.getvalue()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@needs_chromium
def test_pages_fit_a_phone_and_a_desktop_in_a_browser(
    live_server: LiveServer, tmp_path: Path
) -> None:
    """In headless Chromium at 375 and 1280 px: the leaderboard, a group's board and the
    predict page show every column with nothing cut off (no horizontal scrolling, every
    header cell inside the window); screenshots of each are saved."""
    league = scored_league()
    make_match(league.premier, round=3)
    group = groups.group_create(owner=league.carol, name="A group with a rather long name")
    for member in (league.bob, league.dave):
        groups.group_join(user=member, join_code=group.join_code)
    visitor = Client()
    visitor.force_login(league.carol)
    session_cookie = visitor.cookies[settings.SESSION_COOKIE_NAME].value
    paths = {
        "leaderboard": "/leaderboard/",
        "group": f"/group/{group.slug}/".replace("/group/", "/groups/"),
        "predict": "/predict/",
    }
    overflows: dict[str, list[str]] = {}
    # No ORM calls below: Playwright's sync API runs an event loop, in which Django refuses them.
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        for width in (375, 1280):
            context = signed_in_context(
                browser, live_server.url, session_cookie, viewport={"width": width, "height": 800}
            )
            page = context.new_page()
            for name, path in paths.items():
                page.goto(f"{live_server.url}{path}")
                expect(page.locator("h1")).to_be_visible()
                cut = page.evaluate(
                    """(width) => {
                        const problems = [];
                        if (document.documentElement.scrollWidth > width)
                            problems.push("page " + document.documentElement.scrollWidth);
                        for (const cell of document.querySelectorAll("th, td, h1, nav a")) {
                            const box = cell.getBoundingClientRect();
                            if (box.width > 0 && (box.left < 0 || box.right > width + 0.5))
                                problems.push(cell.textContent.trim() + " " + box.right);
                        }
                        return problems;
                    }""",
                    width,
                )
                if cut:
                    overflows[f"{name} at {width}"] = cut
                page.screenshot(path=tmp_path / f"{name}-{width}.png", full_page=True)
            if width == 375:
                page.goto(f"{live_server.url}{paths['group']}")
                expect(page.locator("#board tr.me td.name")).to_have_text("carol")
                expect(page.locator("#board td.move").first).to_be_visible()
            context.close()
        browser.close()
    assert overflows == {}
    assert sorted(path.name for path in tmp_path.glob("*.png")) == sorted(
        f"{name}-{width}.png" for name in paths for width in (375, 1280)
    )

"""The admin: open to staff only, read-only where the pipeline writes, actions that act."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

import pytest
from django.db import IntegrityError, connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob

from stats import jobs
from stats.models import JobError, Match, ViewRefresh
from tests.support.admin_pages import CHANGELISTS, READ_ONLY
from tests.support.factories import complete, make_match, rolled_back
from tests.support.leagues import one_scored_match

pytestmark = pytest.mark.django_db


@pytest.fixture
def league() -> Match:
    """A scored, refreshed match (its scoring job still listed), so every page has rows to
    show; and one recorded job error."""
    match = one_scored_match(username="alice", score=(2, 0))
    JobError.objects.create(
        job_id=1, task_name=jobs.CALCULATE_POINTS, attempt=0, error="E", traceback="T"
    )
    return match


@pytest.mark.parametrize("changelist", CHANGELISTS)
def test_every_page_opens_for_staff(admin_client: Client, league: Match, changelist: str) -> None:
    """Changelists answer 200 and list rows: counted, and each linked to its own page."""
    response = admin_client.get(reverse(f"admin:{changelist}_changelist"))
    assert response.status_code == 200
    changelist_view = response.context["cl"]
    rows = list(changelist_view.result_list)
    assert len(rows) == changelist_view.result_count >= 1
    for row in rows:
        assert f'href="{changelist_view.url_for_result(row)}"'.encode() in response.content


# Non-staff visitors of these pages: tests/acceptance/test_security.py.


@pytest.mark.parametrize("changelist", READ_ONLY)
def test_pipeline_rows_cannot_be_added_here(admin_client: Client, changelist: str) -> None:
    """The views and the refresh log are written by the pipeline only."""
    assert admin_client.get(reverse(f"admin:{changelist}_add")).status_code == 403


def test_match_page_shows_its_scoring_jobs(admin_client: Client) -> None:
    """During an incident: which jobs scored this match, and how they ended."""
    match = complete(make_match(), 1, 0)
    [job] = ProcrastinateJob.objects.filter(task_name=jobs.CALCULATE_POINTS)
    response = admin_client.get(reverse("admin:stats_match_change", args=[match.pk]))
    assert f"#{job.id}</a> todo (0 attempts)".encode() in response.content


def test_points_filter_finds_stale_matches(admin_client: Client, league: Match) -> None:
    """A settled match without points is listed as stale; the scored one is not."""
    stale = make_match()
    Match.objects.filter(pk=stale.pk).update(status="completed", home_score=0, away_score=0)
    response = admin_client.get(reverse("admin:stats_match_changelist") + "?points=stale")
    assert list(response.context["cl"].queryset) == [stale]


def test_recalculate_action_queues_scoring_for_settled_matches(admin_client: Client) -> None:
    """Settled matches get a job; unsettled ones are skipped and said so."""
    settled = make_match()
    Match.objects.filter(pk=settled.pk).update(status="completed", home_score=1, away_score=1)
    scheduled = make_match()
    response = admin_client.post(
        reverse("admin:stats_match_changelist"),
        {"action": "recalculate_points", "_selected_action": [settled.pk, scheduled.pk]},
        follow=True,
    )
    assert [job.args for job in ProcrastinateJob.objects.all()] == [{"match_id": settled.pk}]
    assert "1 scoring job(s) queued; 0 already waiting; 1 unsettled match(es) skipped." in [
        str(message) for message in response.context["messages"]
    ]


def test_void_action_cancels_and_queues_the_clearing(admin_client: Client, league: Match) -> None:
    """Voiding is a save: the match is cancelled and its points-clearing job queued with it."""
    admin_client.post(
        reverse("admin:stats_match_changelist"),
        {"action": "void_matches", "_selected_action": [league.pk]},
    )
    league.refresh_from_db()
    assert league.status == Match.Status.CANCELLED
    assert [job.args for job in ProcrastinateJob.objects.filter(status="todo")] == [
        {"match_id": league.pk}
    ]


def test_refresh_now_button_queues_one_refresh(admin_client: Client) -> None:
    """The button on the refresh log queues a refresh due now; pressing twice queues one."""
    url = reverse("admin:stats_viewrefresh_refresh_now")
    assert (
        b"Refresh stats now"
        in admin_client.get(reverse("admin:stats_viewrefresh_changelist")).content
    )
    admin_client.post(url)
    admin_client.post(url)
    assert ProcrastinateJob.objects.filter(task_name=jobs.REFRESH_STATS_VIEWS).count() == 1
    assert admin_client.get(url).status_code == 405


def test_invalid_scores_in_the_match_form_are_form_errors(admin_client: Client) -> None:
    """A negative score or a completed match without a score is refused with a message."""
    match = make_match()
    data = {
        "competition": match.competition_id,
        "round": 1,
        "home_team": match.home_team_id,
        "away_team": match.away_team_id,
        "kickoff_at_0": "2026-01-01",
        "kickoff_at_1": "12:00:00",
        "status": "completed",
        "home_score": "-1",
        "away_score": "",
    }
    response = admin_client.post(reverse("admin:stats_match_change", args=[match.pk]), data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    match.refresh_from_db()
    assert match.status == Match.Status.SCHEDULED


def test_view_refreshes_are_named_and_timed_to_the_second(
    admin_client: Client, league: Match
) -> None:
    """ "View refreshes" (not "refreshs"), and each time with seconds, so a refresh of a few
    seconds can be seen to have run."""
    index = admin_client.get(reverse("admin:index")).content.decode()
    assert "View refreshes" in index
    assert "View refreshs" not in index
    page = admin_client.get(reverse("admin:stats_viewrefresh_changelist")).content.decode()
    refresh = ViewRefresh.objects.get(view_name="stats_overall_rank")
    assert f"{refresh.refreshed_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}" in page


def test_match_list_shows_who_plays_when_and_the_score_results_first(
    admin_client: Client, league: Match
) -> None:
    """Competition, round, home, away, kickoff, status and score as columns (not one wrapped
    description repeating the round), the latest result before the next fixture."""
    later = make_match(kickoff_at=league.kickoff_at + timedelta(days=7))
    response = admin_client.get(reverse("admin:stats_match_changelist"))
    assert response.context["cl"].list_display[1:8] == [
        "competition",
        "round",
        "home_team",
        "away_team",
        "kickoff_at",
        "status",
        "score",
    ]
    assert list(response.context["cl"].result_list) == [league, later]
    assert "2-0" in response.content.decode()


def match_form(match: Match, **fields: Any) -> dict[str, Any]:
    """The match's change form as the admin posts it, with `fields` changed."""
    return {
        "competition": match.competition_id,
        "round": match.round,
        "home_team": match.home_team_id,
        "away_team": match.away_team_id,
        "kickoff_at_0": f"{match.kickoff_at.astimezone(UTC):%Y-%m-%d}",
        "kickoff_at_1": f"{match.kickoff_at.astimezone(UTC):%H:%M:%S}",
        "status": match.status,
        "home_score": "" if match.home_score is None else match.home_score,
        "away_score": "" if match.away_score is None else match.away_score,
    } | fields


@pytest.mark.parametrize(
    ("status", "score", "message"),
    [
        (
            "scheduled",
            (1, 1),
            "A scheduled match has no score: clear both scores, or set the status to completed.",
        ),
        (
            "postponed",
            (2, 1),
            "A postponed match has no score: clear both scores, or set the status to completed.",
        ),
        ("completed", ("", ""), "A completed match needs its final score, home and away."),
        (
            "completed",
            (2, ""),
            "Give both scores, or neither.\n"
            "A completed match needs its final score, home and away.",
        ),
    ],
)
def test_the_match_form_refuses_what_the_feed_refuses_in_words(
    admin_client: Client, status: str, score: tuple[Any, Any], message: str
) -> None:
    """A completed 1-1 set back to "Scheduled" kept its 1-1 (and "Postponed" its 2-1), though the
    results feed clears a withdrawn result and refuses a void match with a score; errors showed
    raw constraint names. Now the form refuses with the rule (Match.result_problem, which the
    feed uses too), and the match is unchanged."""
    match = complete(make_match(kickoff_at=timezone.now() - timedelta(days=1)), 1, 1)
    home, away = score
    response = admin_client.post(
        reverse("admin:stats_match_change", args=[match.pk]),
        match_form(match, status=status, home_score=home, away_score=away),
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    shown = [str(error) for errors_of_field in errors.values() for error in errors_of_field]
    assert shown == message.split("\n")
    assert "stats_match_" not in response.content.decode()
    match.refresh_from_db()
    assert (match.status, match.home_score, match.away_score) == ("completed", 1, 1)


def test_the_match_form_reopens_a_result_with_its_score_cleared(admin_client: Client) -> None:
    """Back to scheduled with the scores cleared: saved, as the feed would reopen it."""
    match = complete(make_match(kickoff_at=timezone.now() - timedelta(days=1)), 1, 1)
    response = admin_client.post(
        reverse("admin:stats_match_change", args=[match.pk]),
        match_form(match, status="scheduled", home_score="", away_score=""),
    )
    assert response.status_code == 302
    match.refresh_from_db()
    assert (match.status, match.home_score, match.away_score) == ("scheduled", None, None)


def test_voiding_clears_the_score(admin_client: Client, league: Match) -> None:
    admin_client.post(
        reverse("admin:stats_match_changelist"),
        {"action": "void_matches", "_selected_action": [league.pk]},
    )
    league.refresh_from_db()
    assert (league.status, league.home_score, league.away_score) == ("cancelled", None, None)


def test_match_list_opens_on_recent_results_then_the_next_fixtures(admin_client: Client) -> None:
    """A season loaded ahead opened the list on next year's fixtures; now the latest results
    come first, then what comes next, soonest first."""
    now = timezone.now()
    played = [complete(make_match(kickoff_at=now - timedelta(days=days)), 1, 0) for days in (30, 2)]
    coming = [make_match(kickoff_at=now + timedelta(days=days)) for days in (300, 3)]
    response = admin_client.get(reverse("admin:stats_match_changelist"))
    assert list(response.context["cl"].result_list) == [
        played[1],
        played[0],
        coming[1],
        coming[0],
    ]


@pytest.mark.parametrize(
    "kickoff", ["0002-01-01 00:00+00", "9998-12-31 23:59+00", "0002-01-02 12:00+14"]
)
def test_the_match_admin_opens_on_any_kickoff_the_database_holds(
    admin_client: Client, kickoff: str
) -> None:
    """A kickoff at the year 1 (UTC+14) or 9999 (UTC-12), stored by the feed, made every staff
    user's match list answer 500; the date hierarchy's year 9999 did too. The database now holds
    only kickoffs Python can read, and each admin page opens on the extremes it holds."""
    match = make_match()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE stats_match SET kickoff_at = %s::timestamptz WHERE id = %s", [kickoff, match.pk]
        )
    changelist = reverse("admin:stats_match_changelist")
    pages = [
        changelist,
        reverse("admin:stats_match_change", args=[match.pk]),
        f"{changelist}?kickoff_at__year=9998",
        f"{changelist}?kickoff_at__year=2",
    ]
    assert [admin_client.get(page).status_code for page in pages] == [200, 200, 200, 200]
    assert admin_client.get(f"{changelist}?kickoff_at__year=9999").status_code == 302


@pytest.mark.parametrize("kickoff", ["0001-01-01 00:00+14", "9999-12-31 23:00-12"])
def test_the_database_refuses_a_kickoff_python_cannot_read(kickoff: str) -> None:
    match = make_match()
    with (
        rolled_back(),
        pytest.raises(IntegrityError, match="stats_match_kickoff_readable"),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE stats_match SET kickoff_at = %s::timestamptz WHERE id = %s",
            [kickoff, match.pk],
        )

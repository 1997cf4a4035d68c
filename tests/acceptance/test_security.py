"""Security: the cron secret is never logged or echoed; the admin and the read-only view models
are closed to non-staff. Production settings: tests/acceptance/test_deploy_settings.py."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client, RequestFactory
from django.urls import reverse
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter
from procrastinate.contrib.django.models import ProcrastinateJob

from stats import jobs
from stats.models import Match, UserTotal
from tests.support.admin_pages import CHANGELISTS as ADMIN_CHANGELISTS
from tests.support.cron import CRON_SECRET, CRON_URL
from tests.support.factories import make_user
from tests.support.jobs import insert_worker
from tests.support.leagues import one_scored_match

pytestmark = pytest.mark.django_db


# --- The cron secret -----------------------------------------------------------------------------


@pytest.fixture
def league() -> Match:
    return one_scored_match(username="alice")


def test_the_cron_secret_is_never_logged_nor_echoed(
    client: Client, settings: Any, caplog: pytest.LogCaptureFixture, league: Match
) -> None:
    """Every answer and every log record (all loggers at DEBUG) of right, wrong and near-miss
    calls, and of every public page, is free of the secret."""
    settings.CRON_SECRET = CRON_SECRET
    caplog.set_level(logging.DEBUG)
    insert_worker()  # alive, so the refresh queued by the calls leaves /health at 200
    responses = [
        client.post(CRON_URL, HTTP_AUTHORIZATION=f"Bearer {CRON_SECRET}"),
        client.post(CRON_URL, HTTP_AUTHORIZATION=f"Bearer {CRON_SECRET}"),
        client.post(CRON_URL, HTTP_AUTHORIZATION=f"Bearer {CRON_SECRET[:-1]}"),
        client.post(CRON_URL, HTTP_AUTHORIZATION=f"bearer {CRON_SECRET}"),
        client.post(CRON_URL, HTTP_AUTHORIZATION=CRON_SECRET),
        client.post(f"{CRON_URL}?secret={CRON_SECRET}"),
        client.get(CRON_URL, HTTP_AUTHORIZATION=f"Bearer {CRON_SECRET}"),
        client.get("/health"),
        client.get("/metrics"),
        client.get("/api/leaderboard"),
        client.get("/leaderboard/"),
    ]
    assert [response.status_code for response in responses] == [
        *(200, 200, 401, 401, 401, 401, 405),
        *(200, 403, 200, 200),
    ]
    assert caplog.records, "nothing was logged: the check would prove nothing"
    for response in responses:
        assert CRON_SECRET.encode() not in response.content
        assert all(CRON_SECRET not in value for _, value in response.items())
    assert CRON_SECRET not in caplog.text
    assert all(CRON_SECRET not in str(record.args) for record in caplog.records)


@pytest.mark.usefixtures("unreachable_database")
@pytest.mark.django_db(transaction=True)
def test_the_cron_secret_is_not_in_the_error_logged_when_the_database_is_down(
    client: Client, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The failure is logged and answered with a 503; neither has the secret."""
    settings.CRON_SECRET = CRON_SECRET
    caplog.set_level(logging.DEBUG)
    response = client.post(CRON_URL, HTTP_AUTHORIZATION=f"Bearer {CRON_SECRET}")
    assert response.status_code == 503
    assert CRON_SECRET.encode() not in response.content
    assert "database unavailable during POST /api/cron/update-stats" in caplog.text
    assert CRON_SECRET not in caplog.text


def test_error_reports_hide_the_cron_secret_and_the_authorization_header(
    settings: Any, rf: RequestFactory
) -> None:
    """Django's error report (the DEBUG page, the mail to ADMINS) cleanses both the setting and
    the header carrying it."""
    settings.CRON_SECRET = CRON_SECRET
    request = rf.post(CRON_URL, HTTP_AUTHORIZATION=f"Bearer {CRON_SECRET}")
    assert SafeExceptionReporterFilter().get_safe_settings()["CRON_SECRET"] != CRON_SECRET
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        reporter = ExceptionReporter(request, type(exc), exc, exc.__traceback__)
        assert CRON_SECRET not in reporter.get_traceback_text()
        assert CRON_SECRET not in reporter.get_traceback_html()


# --- The admin and the read-only models ------------------------------------------------------

# Every page of tests/acceptance/test_admin.py, and the users too.
CHANGELISTS = [*ADMIN_CHANGELISTS, "auth_user"]


def login(client: Client, **fields: Any) -> User:
    user = make_user(**fields)
    client.force_login(user)
    return user


@pytest.mark.parametrize("who", ["anonymous", "fan", "inactive staff"])
def test_non_staff_never_see_the_admin(client: Client, league: Match, who: str) -> None:
    """Anonymous visitors, logged-in fans and deactivated staff: every admin page, a read-only
    row's page and the refresh-now button send them to the login page; nothing is queued."""
    if who == "fan":
        login(client)
    elif who == "inactive staff":
        login(client, is_staff=True, is_superuser=True, is_active=False)
    entry = UserTotal.objects.get()
    urls = [
        reverse("admin:index"),
        *(reverse(f"admin:{name}_changelist") for name in CHANGELISTS),
        reverse("admin:stats_usertotal_change", args=[entry.pk]),
        reverse("admin:stats_match_change", args=[league.pk]),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin/login/"), url
    refresh_now = client.post(reverse("admin:stats_viewrefresh_refresh_now"))
    assert refresh_now["Location"].startswith("/admin/login/")
    assert not ProcrastinateJob.objects.filter(task_name=jobs.REFRESH_STATS_VIEWS).exists()


def test_staff_without_permissions_are_refused_every_model(client: Client, league: Match) -> None:
    """Staff status alone opens no model: 403 on each, and neither the refresh-now button nor a
    match's change form does anything."""
    login(client, is_staff=True)
    for name in CHANGELISTS:
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 403, name
    assert client.post(reverse("admin:stats_viewrefresh_refresh_now")).status_code == 403
    response = client.post(
        reverse("admin:stats_match_change", args=[league.pk]), {"status": "cancelled"}
    )
    assert response.status_code == 403
    league.refresh_from_db()
    assert league.status == Match.Status.COMPLETED
    assert not ProcrastinateJob.objects.filter(task_name=jobs.REFRESH_STATS_VIEWS).exists()


@pytest.mark.parametrize("model", ["usertotal", "competitiontotal", "roundtotal", "matchsummary"])
def test_view_rows_are_read_only_even_for_a_superuser(
    admin_client: Client, league: Match, model: str
) -> None:
    """Rows of the statistics can be looked at, never added, changed or deleted here."""
    from django.apps import apps

    row = apps.get_model("stats", model)._default_manager.first()
    assert row is not None
    change = reverse(f"admin:stats_{model}_change", args=[row.pk])
    assert admin_client.get(change).status_code == 200
    assert admin_client.post(change, {"total_points": "999"}).status_code == 403
    delete = reverse(f"admin:stats_{model}_delete", args=[row.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert admin_client.get(reverse(f"admin:stats_{model}_add")).status_code == 403
    changelist = reverse(f"admin:stats_{model}_changelist")
    bulk_delete = {"action": "delete_selected", "_selected_action": [row.pk]}
    admin_client.post(changelist, bulk_delete)
    assert type(row)._default_manager.filter(pk=row.pk).exists()


def test_a_viewer_sees_the_view_rows(client: Client, league: Match) -> None:
    """Staff allowed to view the stats rows see them, and nothing else."""
    user = login(client, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_usertotal"))
    assert client.get(reverse("admin:stats_usertotal_changelist")).status_code == 200
    assert client.get(reverse("admin:stats_match_changelist")).status_code == 403


@pytest.mark.parametrize("action", ["recalculate_points", "void_matches"])
def test_a_viewer_of_matches_cannot_run_the_match_actions(
    client: Client, league: Match, action: str
) -> None:
    """Staff who may only view matches: recalculating or voiding needs change permission."""
    ProcrastinateJob.objects.all().delete()
    user = login(client, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_match"))
    changelist = reverse("admin:stats_match_changelist")
    client.post(changelist, {"action": action, "_selected_action": [league.pk]})
    league.refresh_from_db()
    assert league.status == Match.Status.COMPLETED
    assert not ProcrastinateJob.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_database_without_this_codes_tables_is_a_503_that_says_so(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """A board read on a database that `migrate` has not brought up (its table missing) answers
    503 "not migrated", in JSON under /api/ and in text on the page, instead of a 500."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE stats_competition RENAME TO stats_competition_aside")
    try:
        api = client.get("/api/leaderboard?competition=any")
        page = client.get("/leaderboard/?competition=any")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE stats_competition_aside RENAME TO stats_competition")
    assert (api.status_code, api.json()) == (
        503,
        {"error": "the database is not migrated; an operator must run manage.py migrate"},
    )
    assert api["Retry-After"]
    assert page.status_code == 503
    assert b"not migrated" in page.content
    assert "database not migrated during GET /api/leaderboard" in caplog.text

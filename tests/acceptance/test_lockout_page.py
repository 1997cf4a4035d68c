"""The page a locked-out sign-in gets: the admin's look and a way forward, not a bare line."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"


def test_the_lockout_page_is_styled_like_the_admin_and_says_when_to_come_back() -> None:
    """After five wrong passwords: 429 with the admin's stylesheets and header, the reason and
    the wait in minutes. Before: the bare text 'Account locked: too many login attempts...'."""
    User.objects.create_user("root", password="the-right-password", is_staff=True)
    client = Client(HTTP_X_REAL_IP="203.0.113.7")
    for attempt in range(5):
        response = client.post(LOGIN, {"username": "root", "password": f"guess-{attempt}"})

    assert response.status_code == 429
    assert response["Content-Type"] == "text/html; charset=utf-8"
    page = response.content.decode()
    assert page.startswith("<!DOCTYPE html>")
    assert 'href="/static/admin/css/base.css"' in page
    assert 'href="/static/admin/css/login.css"' in page
    assert "<title>Signing in is paused · " in page
    assert "Too many failed sign-ins from this address." in page
    assert "Try again in 15 minutes." in page

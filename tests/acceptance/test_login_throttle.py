"""Failed admin logins are throttled (django-axes): five wrong passwords for one username from one
address lock that pair out, even with the right password; other addresses are not locked."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "the-right-password"
ATTACKER = "203.0.113.7"


@pytest.fixture
def root() -> User:
    return User.objects.create_user("root", password=PASSWORD, is_staff=True, is_superuser=True)


def log_in(client: Client, password: str, **headers: Any) -> int:
    response = client.post(LOGIN, {"username": "root", "password": password}, **headers)
    return response.status_code


@pytest.mark.usefixtures("root")
def test_five_wrong_passwords_lock_the_account_out_from_that_address() -> None:
    """Before: 24 wrong passwords for root at 7.5/s, never refused."""
    attacker = Client(HTTP_X_REAL_IP=ATTACKER)  # as nginx forwards it to gunicorn on loopback
    # Four times the form again; the fifth failure locks the pair out and is answered 429.
    assert [log_in(attacker, f"guess-{n}") for n in range(5)] == [200] * 4 + [429]
    assert log_in(attacker, PASSWORD) == 429
    assert "_auth_user_id" not in attacker.session

    someone_else = Client(HTTP_X_REAL_IP="198.51.100.9")
    assert log_in(someone_else, PASSWORD) == 302
    assert "_auth_user_id" in someone_else.session


@pytest.mark.usefixtures("root")
def test_a_forged_x_real_ip_from_a_remote_peer_does_not_escape_the_lockout() -> None:
    """Only the proxy on loopback may name the client; a client reaching the server directly
    cannot rotate the header to get fresh attempts."""
    attacker = Client(REMOTE_ADDR="192.0.2.50")
    statuses = [log_in(attacker, f"guess-{n}", HTTP_X_REAL_IP=f"10.0.0.{n}") for n in range(7)]
    assert statuses == [200] * 4 + [429] * 3


@pytest.mark.usefixtures("root")
def test_a_right_password_before_the_limit_resets_the_count() -> None:
    client = Client(HTTP_X_REAL_IP=ATTACKER)
    assert [log_in(client, f"guess-{n}") for n in range(4)] == [200] * 4
    assert log_in(client, PASSWORD) == 302
    client.logout()
    assert [log_in(client, f"guess-{n}") for n in range(4)] == [200] * 4
    assert log_in(client, PASSWORD) == 302

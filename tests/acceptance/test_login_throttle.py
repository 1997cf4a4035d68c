"""Failed admin logins are throttled (django-axes): five wrong passwords for one username from one
client lock that pair out, even with the right password; other clients are not locked. A client is
an IPv4 address or an IPv6 /64, and one that fails with many usernames is locked out too."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client, RequestFactory

from stats.client_ip import client_ip
from stats.login_throttle import ADDRESS_FAILURE_LIMIT

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


# --- IPv6 networks and many usernames -----------------------------------------------------------

NETWORK = "2001:db8:5:7"  # one /64: what one IPv6 client (a home, a server) is given


@pytest.mark.usefixtures("root")
def test_the_addresses_of_one_ipv6_64_count_as_one_client() -> None:
    """Before: 30 wrong passwords from 30 addresses of one /64 were never refused, then the
    right one signed in."""
    statuses = [
        log_in(Client(HTTP_X_REAL_IP=f"{NETWORK}::{n:x}"), f"guess-{n}") for n in range(1, 8)
    ]
    assert statuses == [200] * 4 + [429] * 3
    same_network = Client(HTTP_X_REAL_IP=f"{NETWORK}:ffff:ffff:ffff:fffe")
    assert log_in(same_network, PASSWORD) == 429
    other_network = Client(HTTP_X_REAL_IP="2001:db8:5:8::1")
    assert log_in(other_network, PASSWORD) == 302


def test_random_usernames_from_one_address_are_refused_too(root: User) -> None:
    """Before: throttled per (username, address) only, so a client posting a new username each
    time was never refused (and each try costs a password hash: 4 such clients cut the board
    from 121 to 0.8 requests/s)."""
    attacker = Client(HTTP_X_REAL_IP=ATTACKER)
    statuses = [
        attacker.post(LOGIN, {"username": f"nobody-{n}", "password": "x"}).status_code
        for n in range(ADDRESS_FAILURE_LIMIT + 3)
    ]
    assert statuses == [200] * (ADDRESS_FAILURE_LIMIT - 1) + [429] * 4
    assert log_in(attacker, PASSWORD) == 429
    # Another address of the same network of an IPv4 provider is another client.
    assert log_in(Client(HTTP_X_REAL_IP="203.0.113.8"), PASSWORD) == 302


@pytest.mark.usefixtures("root")
def test_signing_in_does_not_clear_the_addresss_other_failures() -> None:
    """An attacker with an account of their own cannot reset the address's count by signing in:
    only the failures of the account that signed in are forgotten."""
    User.objects.create_user("mallory", password=PASSWORD, is_staff=True)
    attacker = Client(HTTP_X_REAL_IP=ATTACKER)
    for n in range(ADDRESS_FAILURE_LIMIT - 1):
        attacker.post(LOGIN, {"username": f"nobody-{n}", "password": "x"})
    mallory = attacker.post(LOGIN, {"username": "mallory", "password": PASSWORD})
    assert mallory.status_code == 302  # signed in
    attacker.logout()
    assert attacker.post(LOGIN, {"username": "nobody-x", "password": "x"}).status_code == 429


@pytest.mark.parametrize(
    ("forwarded", "counted_as"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:5:7:1:2:3:4", "2001:db8:5:7::"),
        ("2001:DB8:5:7::99", "2001:db8:5:7::"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("fe80::1%eth0", "fe80::"),
        ("not an address", "127.0.0.1"),
    ],
)
def test_the_client_counted(forwarded: str, counted_as: str) -> None:
    request = RequestFactory().get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_REAL_IP=forwarded)
    assert client_ip(request) == counted_as

"""Failed logins, counted two ways (django-axes' handler, AXES_HANDLER).

A client (an IPv4 address or an IPv6 /64: stats/client_ip.py) is refused for AXES_COOLOFF_TIME
after AXES_FAILURE_LIMIT wrong passwords for one username, or after ADDRESS_FAILURE_LIMIT
failures whatever the usernames: a client that tries a new username each time (each try costs
the server a password hash) is refused too, while a shared address (an office, a mobile
network's NAT) is not locked out by a few people's typos.
"""

from __future__ import annotations

from typing import Any

from axes.handlers.database import AxesDatabaseHandler  # type: ignore[import-untyped]
from axes.helpers import get_failure_limit  # type: ignore[import-untyped]
from django.db.models import QuerySet, Sum
from django.http import HttpRequest

# Failures from one client, across usernames, within AXES_COOLOFF_TIME.
ADDRESS_FAILURE_LIMIT = 20


def _failures(attempts: QuerySet[Any]) -> int:
    return int(attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0)


class LoginThrottle(AxesDatabaseHandler):  # type: ignore[misc]
    """AXES_LOCKOUT_PARAMETERS is `[["username", "ip_address"], "ip_address"]`: the attempts of
    that pair, then of the client whatever the username."""

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        pair, client = self.get_user_attempts(request, credentials)
        # django-axes compares one number with AXES_FAILURE_LIMIT: the client's count is scaled
        # so that it reaches that limit at ADDRESS_FAILURE_LIMIT.
        limit = int(get_failure_limit(request, credentials))
        return max(_failures(pair), _failures(client) * limit // ADDRESS_FAILURE_LIMIT)

    def reset_user_attempts(
        self, request: HttpRequest, credentials: dict[str, Any] | None = None
    ) -> int:
        # A sign-in forgets that account's failures from this client only: an attacker signing in
        # to an account of their own must not wipe the failures of the usernames they tried.
        pair, _client = self.filter_user_attempts(request, credentials)
        deleted, _ = pair.delete()
        return int(deleted)

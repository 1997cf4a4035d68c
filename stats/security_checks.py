"""Production safety: refuse to start with DEBUG off and the development SECRET_KEY.

Registered as an ordinary (not deploy-only) check, so every command that runs the system checks
stops on it: runserver, migrate, `procrastinate worker`, `check` and `check --deploy`. Production
sets SECRET_KEY (and DEBUG=false, ALLOWED_HOSTS, CRON_SECRET) in the environment; see
docs/deploy/README.md.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security)
def check_production_secret_key(**kwargs: Any) -> list[checks.CheckMessage]:
    # Django's own convention for a development key, which ours follows.
    if settings.DEBUG or not settings.SECRET_KEY.startswith("django-insecure-"):
        return []
    return [
        checks.Error(
            "DEBUG is off but SECRET_KEY is the development default: sessions, password resets "
            "and signed values could be forged by anyone who has read the source.",
            hint="Set SECRET_KEY in the environment to a long random value, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'.",
            id="stats.E010",
        )
    ]

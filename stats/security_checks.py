"""Fail closed: a site that could be public refuses to start on development or short secrets.

Run from `StatsConfig.ready()`, so every process that sets Django up stops on it, not only the
commands that run system checks: gunicorn (its workers fail to boot and it exits), `migrate`,
`procrastinate worker`, `shell`, `check`. A system check would let gunicorn, which runs none,
start. The development entry points (the Makefile's targets, the test settings) set DEBUG on and
keep ALLOWED_HOSTS local, which is the only way the development key is accepted.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# Host names that never reach this site from another machine (and Django's test client's).
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1", "testserver"})
# A bearer secret shorter than this can be guessed by a determined caller.
MIN_CRON_SECRET_LENGTH = 32
MIN_METRICS_TOKEN_LENGTH = 32
# Django's own threshold (its check security.W009), made a refusal here.
MIN_SECRET_KEY_LENGTH = 50


def is_local_host(host: str) -> bool:
    return host in LOCAL_HOSTS or host.endswith(".localhost")


def could_be_public(*, debug: bool, allowed_hosts: Iterable[str]) -> bool:
    """DEBUG off (production's mode), or a host name other machines can reach."""
    return not debug or not all(is_local_host(host) for host in allowed_hosts)


def unsafe_settings(
    *,
    debug: bool,
    allowed_hosts: Iterable[str],
    secret_key: str,
    cron_secret: str,
    metrics_token: str = "",
) -> list[str]:
    """What stops a site that could be public from starting, each in one sentence naming the
    setting first; empty when it may start."""
    if not could_be_public(debug=debug, allowed_hosts=allowed_hosts):
        return []
    problems = []
    # Django's own convention for a development key, which ours follows.
    if secret_key.startswith("django-insecure-"):
        problems.append(
            "SECRET_KEY is the development key: sessions, password resets and signed values "
            "could be forged by anyone who has read the source; set it to a long random value "
            "(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')."
        )
    elif len(secret_key) < MIN_SECRET_KEY_LENGTH:
        problems.append(
            f"SECRET_KEY is {len(secret_key)} characters long; use at least "
            f"{MIN_SECRET_KEY_LENGTH} (python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(50))')."
        )
    if cron_secret and len(cron_secret) < MIN_CRON_SECRET_LENGTH:
        problems.append(
            f"CRON_SECRET is {len(cron_secret)} characters long; use at least "
            f"{MIN_CRON_SECRET_LENGTH} (python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'), or leave it unset: the cron endpoint then "
            "answers 503."
        )
    if metrics_token and len(metrics_token) < MIN_METRICS_TOKEN_LENGTH:
        problems.append(
            f"METRICS_TOKEN is {len(metrics_token)} characters long; use at least "
            f"{MIN_METRICS_TOKEN_LENGTH} (python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'), or leave it unset: /metrics and the detailed "
            "/health then refuse everyone."
        )
    return problems


def refuse_unsafe_settings() -> None:
    """Raise ImproperlyConfigured, naming each problem in one line, when the settings are unsafe
    (manage.py and the WSGI/ASGI entry points print that line alone, without a traceback)."""
    problems = unsafe_settings(
        debug=settings.DEBUG,
        allowed_hosts=settings.ALLOWED_HOSTS,
        secret_key=settings.SECRET_KEY,
        cron_secret=settings.CRON_SECRET,
        metrics_token=settings.METRICS_TOKEN,
    )
    if problems:
        why = "DEBUG is off" if not settings.DEBUG else "ALLOWED_HOSTS names a non-local host"
        raise ImproperlyConfigured(
            f"refusing to start: {why}, so the site could be public, and "
            + " ".join(problems)
            + " For development, set DEBUG=true and keep ALLOWED_HOSTS local (the Makefile's "
            "targets do); for production see docs/deploy/README.md."
        )

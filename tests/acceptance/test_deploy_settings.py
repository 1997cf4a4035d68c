"""Secure by default: the documented production environment passes `check --deploy`; without any
one of its lines the site refuses to start or starts safe; DEBUG is off unless a development
entry point turns it on; development secrets stop every process of a site that could be public."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from stats.processes import REPO_ROOT
from stats.security_checks import unsafe_settings
from stats_project.settings import INSECURE_DEV_SECRET_KEY
from tests.support.workers import database_url_of_this_test

ENV_FILE = REPO_ROOT / "docs" / "deploy" / "matchday.env"
REFUSAL = "ImproperlyConfigured: refusing to start"
# Variables the environment of this test process may carry that the site reads: each
# subprocess starts without them, so only the environment under test counts.
SITE_VARIABLES = re.compile(
    r"DEBUG|SECRET_KEY|ALLOWED_HOSTS|CRON_SECRET|METRICS_TOKEN|DATABASE_URL|DJANGO_SETTINGS_MODULE"
    r"|TRUST_X_FORWARDED_PROTO|SECURE_.*|SESSION_COOKIE_SECURE|CSRF_COOKIE_SECURE"
)


def systemd_environment_file(text: str) -> dict[str, str]:
    """The variables systemd's `EnvironmentFile=` reads from `text`, by its rules (systemd.exec(5),
    the state machine of src/basic/env-file.c): a line starting with `#` or `;` is a comment; a
    key is trimmed; an unquoted value keeps everything up to the end of the line (an inline
    `# ...` included) but trailing whitespace, with `\\` escapes and `\\`-newline continuing it;
    single quotes keep their content verbatim; double quotes take the shell's four escapes."""
    variables: dict[str, str] = {}
    state, key, value = "pre_key", "", ""
    for char in text + "\n":
        if state == "pre_key":
            if char in "#;":
                state = "comment"
            elif char not in " \t\n\r":
                state, key, value = "key", char, ""
        elif state == "key":
            if char in "\n\r":
                state = "pre_key"  # no "=": not an assignment
            elif char == "=":
                state, key = "pre_value", key.strip()
            else:
                key += char
        elif state == "pre_value":
            if char in "\n\r":
                variables[key] = value.rstrip(" \t\r")
                state = "pre_key"
            elif char == "'":
                state = "single_quote"
            elif char == '"':
                state = "double_quote"
            elif char == "\\":
                state = "value_escape"
            elif char not in " \t":
                state, value = "value", value + char
        elif state == "value":
            if char in "\n\r":
                variables[key] = value.rstrip(" \t\r")
                state = "pre_key"
            elif char == "\\":
                state = "value_escape"
            else:
                value += char
        elif state == "value_escape":
            state = "value"
            if char not in "\n\r":
                value += char
        elif state == "single_quote":
            if char == "'":
                state = "pre_value"
            else:
                value += char
        elif state == "double_quote":
            if char == '"':
                state = "pre_value"
            elif char == "\\":
                state = "double_quote_escape"
            else:
                value += char
        elif state == "double_quote_escape":
            state = "double_quote"
            if char in '"\\`$':
                value += char
            elif char != "\n":
                value += "\\" + char
        elif state == "comment" and char in "\n\r":
            state = "pre_key"
    return variables


def documented_environment() -> dict[str, str]:
    """docs/deploy/matchday.env as systemd reads it, with `...` secrets made up and the database
    this test runs on."""
    environment = {
        name: secrets.token_urlsafe(50) if value == "..." else value
        for name, value in systemd_environment_file(ENV_FILE.read_text()).items()
    }
    environment["DATABASE_URL"] = database_url_of_this_test()
    return environment


def run(
    command: list[str], environment: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    base = {name: value for name, value in os.environ.items() if not SITE_VARIABLES.fullmatch(name)}
    return subprocess.run(
        command,
        cwd=REPO_ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "stats_project.settings", **environment},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def check_deploy(environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], environment
    )


def test_the_documented_environment_lists_what_production_needs() -> None:
    assert set(documented_environment()) == {
        "DATABASE_URL",
        "DEBUG",
        "SECRET_KEY",
        "ALLOWED_HOSTS",
        "CRON_SECRET",
        "METRICS_TOKEN",
        "TRUST_X_FORWARDED_PROTO",
    }


def test_the_env_file_means_the_same_to_systemd_and_to_sh(tmp_path: Path) -> None:
    """Before: the README's example had inline comments, which systemd keeps in the value:
    TRUST_X_FORWARDED_PROTO became "true  # the proxy ..." (false: an endless redirect), and the
    cron and metrics tokens stopped matching."""
    read_by_systemd = systemd_environment_file(ENV_FILE.read_text())
    assert read_by_systemd == {
        "DATABASE_URL": "postgres://matchday:PASSWORD@db.internal:5432/matchday"
        "?sslmode=verify-full&sslrootcert=system",
        "DEBUG": "false",
        "SECRET_KEY": "...",
        "ALLOWED_HOSTS": "stats.example.org",
        "CRON_SECRET": "...",
        "METRICS_TOKEN": "...",
        "TRUST_X_FORWARDED_PROTO": "true",
    }
    sourced = subprocess.run(
        ["sh", "-c", 'set -a; . "$0"; env -0', str(ENV_FILE)],
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        check=True,
    )
    read_by_sh = dict(line.split("=", 1) for line in sourced.stdout.split("\0") if "=" in line)
    assert {name: read_by_sh.get(name) for name in read_by_systemd} == read_by_systemd


@pytest.mark.parametrize(
    ("text", "variables"),
    [
        ("A=1  # note\n", {"A": "1  # note"}),
        ("# A=1\n; B=2\n  C = 3 \n", {"C": "3"}),
        ('A=\'x # y\'\nB="a\\"b"\n', {"A": "x # y", "B": 'a"b'}),
        ("A=one\\\ntwo\nno assignment\n", {"A": "onetwo"}),
    ],
)
def test_the_parser_reads_as_systemd_does(text: str, variables: dict[str, str]) -> None:
    assert systemd_environment_file(text) == variables


@pytest.mark.django_db
def test_check_deploy_is_clean_with_the_documented_environment() -> None:
    """Before: HSTS preload on by default had no opt-out worth the name; DEBUG had to be set."""
    result = check_deploy(documented_environment())
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


# What the site does with each line of the documented environment missing. "refuses": every
# process stops at start-up. "safe": it starts, and `check --deploy` finds nothing (DEBUG off,
# HTTPS redirect, HSTS, secure cookies, a real key): a missing DATABASE_URL means the embedded
# server (not installed in production: the first connection says what to install), a missing
# ALLOWED_HOSTS means only local names are served, a missing TRUST_X_FORWARDED_PROTO means every
# request is redirected to HTTPS again (the site is unusable, never insecure). "warns": it starts
# safe, and `check --deploy` says what is off: a missing CRON_SECRET or METRICS_TOKEN means those
# endpoints refuse everyone.
WITHOUT_LINE = {
    "DATABASE_URL": "safe",
    "DEBUG": "safe",
    "SECRET_KEY": "refuses",
    "ALLOWED_HOSTS": "safe",
    "CRON_SECRET": "warns",
    "METRICS_TOKEN": "warns",
    "TRUST_X_FORWARDED_PROTO": "safe",
}


@pytest.mark.django_db
def test_each_line_of_the_documented_environment_removed_refuses_or_starts_safe() -> None:
    """Before: without the DEBUG line the site ran in debug mode (404 pages listing every URL,
    no HSTS, no HTTPS redirect, insecure cookies) and `check --deploy --fail-level ERROR` passed;
    without SECRET_KEY too it started on the public development key."""
    environment = documented_environment()
    assert set(environment) == set(WITHOUT_LINE), "a documented line has no expected outcome"
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(
            zip(
                WITHOUT_LINE,
                pool.map(
                    lambda removed: check_deploy(
                        {name: value for name, value in environment.items() if name != removed}
                    ),
                    WITHOUT_LINE,
                ),
                strict=True,
            )
        )
    for removed, expected in WITHOUT_LINE.items():
        result = results[removed]
        if expected == "refuses":
            assert result.returncode != 0, removed
            assert REFUSAL in result.stderr, (removed, result.stderr)
        elif expected == "warns":
            # Before: nothing said, so the cron endpoint and /metrics were off unnoticed.
            assert result.returncode != 0, removed  # --fail-level WARNING
            assert f"{removed} is not set" in result.stderr, (removed, result.stderr)
            assert result.stderr.count("(stats.W") == 1, result.stderr
        else:
            assert result.returncode == 0, (removed, result.stderr)
            assert "System check identified no issues" in result.stdout, (removed, result.stdout)


@pytest.mark.parametrize(
    "command",
    [
        ["manage.py", "migrate"],
        ["manage.py", "procrastinate", "worker"],
        ["manage.py", "shell", "-c", "print('started')"],
        ["-m", "gunicorn", "stats_project.wsgi:application", "--bind", "127.0.0.1:0"],
    ],
    ids=["migrate", "worker", "shell", "gunicorn"],
)
@pytest.mark.django_db
def test_every_process_refuses_the_development_key_in_production(command: list[str]) -> None:
    """Before: plain `check`, `migrate` and the worker reported nothing with DEBUG unset, and
    gunicorn runs no system checks at all."""
    environment = documented_environment()
    del environment["SECRET_KEY"]
    result = run([sys.executable, *command], environment)
    assert result.returncode != 0
    assert REFUSAL in result.stderr
    assert "SECRET_KEY is the development key" in result.stderr


@pytest.mark.django_db
def test_debug_on_with_a_public_host_refuses_the_development_key_and_a_short_cron_secret() -> None:
    environment = {
        "DEBUG": "true",
        "ALLOWED_HOSTS": "stats.example.org",
        "CRON_SECRET": "short-secret",
        "DATABASE_URL": database_url_of_this_test(),
    }
    result = run([sys.executable, "manage.py", "check"], environment)
    assert result.returncode != 0
    assert "refusing to start: ALLOWED_HOSTS names a non-local host" in result.stderr
    assert "SECRET_KEY is the development key" in result.stderr
    assert "CRON_SECRET is 12 characters long; use at least 32" in result.stderr


@pytest.mark.django_db
def test_the_development_entry_point_starts_on_the_development_key() -> None:
    """DEBUG on and local hosts only, as `make web` runs: no refusal, a warning for the short
    cron secret."""
    environment = {
        "DEBUG": "true",
        "CRON_SECRET": "short-secret",
        "DATABASE_URL": database_url_of_this_test(),
    }
    result = run([sys.executable, "manage.py", "check"], environment)
    assert result.returncode == 0, result.stderr
    assert "(stats.W001) CRON_SECRET is 12 characters long" in result.stderr


DEV_KEY = INSECURE_DEV_SECRET_KEY


@pytest.mark.parametrize(
    ("debug", "hosts", "secret_key", "cron_secret", "metrics_token", "refused"),
    [
        (False, ["localhost"], DEV_KEY, "", "", ["SECRET_KEY"]),
        (False, ["localhost"], "k" * 50, "c" * 31, "", ["CRON_SECRET"]),
        (False, ["localhost"], "k" * 50, "c" * 32, "m" * 32, []),
        (False, ["localhost"], "k" * 50, "", "", []),
        # Before: SECRET_KEY=x and METRICS_TOKEN=abc started without complaint.
        (False, ["localhost"], "x", "", "", ["SECRET_KEY"]),
        (False, ["localhost"], "k" * 49, "", "", ["SECRET_KEY"]),
        (False, ["localhost"], "k" * 50, "", "abc", ["METRICS_TOKEN"]),
        (False, ["localhost"], "k" * 50, "", "m" * 31, ["METRICS_TOKEN"]),
        (True, ["localhost", "127.0.0.1", "[::1]", "a.localhost"], DEV_KEY, "x", "abc", []),
        (True, ["*"], DEV_KEY, "", "", ["SECRET_KEY"]),
        (True, [".example.org"], "k" * 50, "x", "m", ["CRON_SECRET", "METRICS_TOKEN"]),
        (True, ["localhost", "10.0.0.5"], DEV_KEY, "x", "", ["SECRET_KEY", "CRON_SECRET"]),
    ],
)
def test_what_the_start_up_refuses(
    debug: bool,
    hosts: list[str],
    secret_key: str,
    cron_secret: str,
    metrics_token: str,
    refused: list[str],
) -> None:
    problems = unsafe_settings(
        debug=debug,
        allowed_hosts=hosts,
        secret_key=secret_key,
        cron_secret=cron_secret,
        metrics_token=metrics_token,
    )
    assert [problem.split(" ", 1)[0] for problem in problems] == refused


@pytest.mark.parametrize(
    "command",
    [
        ["manage.py", "check"],
        ["manage.py", "procrastinate", "worker"],
        ["-m", "gunicorn", "stats_project.wsgi:application", "--bind", "127.0.0.1:0"],
    ],
    ids=["check", "worker", "gunicorn"],
)
@pytest.mark.django_db
def test_a_refusal_is_one_line(command: list[str]) -> None:
    """Before: each refusal came inside a 20-line traceback (gunicorn's: in each worker's)."""
    environment = {**documented_environment(), "SECRET_KEY": "x", "METRICS_TOKEN": "abc"}
    result = run([sys.executable, *command], environment)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    [refusal] = [line for line in result.stderr.splitlines() if "refusing to start" in line]
    assert refusal.startswith(REFUSAL), refusal
    assert "SECRET_KEY is 1 characters long; use at least 50" in refusal
    assert "METRICS_TOKEN is 3 characters long; use at least 32" in refusal
    if command[0] == "manage.py":
        assert result.stderr.strip() == refusal


def test_debug_is_off_unless_set(tmp_path: Path) -> None:
    """Before: DEBUG defaulted to true, so a production environment missing the line ran debug."""
    result = run(
        [sys.executable, "-c", "from stats_project import settings; print(settings.DEBUG)"],
        {"SECRET_KEY": "k" * 50},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(("setting", "preload"), [(None, "False"), ("true", "True")])
def test_hsts_preload_is_opt_in(setting: str | None, preload: str) -> None:
    """Before: preload was on whenever DEBUG was off (browsers ship the list: hard to undo)."""
    environment = {"SECRET_KEY": "k" * 50, "DEBUG": "false"}
    if setting is not None:
        environment["SECURE_HSTS_PRELOAD"] = setting
    result = run(
        [
            sys.executable,
            "-c",
            "from stats_project import settings as s;"
            " print(s.SECURE_HSTS_PRELOAD, s.SECURE_HSTS_SECONDS)",
        ],
        environment,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [preload, "31536000"]

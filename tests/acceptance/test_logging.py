"""Log lines: each one written once, whatever DEBUG says."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from stats.processes import REPO_ROOT

PROBE = (
    "import logging;"
    "logging.getLogger('django.request').warning('Not Found: /probe');"
    "logging.getLogger('django.server').warning('\"GET /probe HTTP/1.1\" 404 179')"
)


@pytest.mark.parametrize("debug", ["true", "false"])
def test_a_4xx_line_is_logged_once(debug: str) -> None:
    """Django's own console handler (active under DEBUG) and the root handler both printed
    django.request's lines; now each line appears once."""
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", PROBE],
        cwd=REPO_ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "stats_project.settings",
            "DEBUG": debug,
            "SECRET_KEY": "test-" + "k" * 50,  # not the development key, whatever DEBUG says
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = result.stderr.splitlines()
    assert sum("Not Found: /probe" in line for line in lines) == 1, result.stderr
    assert sum('"GET /probe HTTP/1.1" 404' in line for line in lines) == 1, result.stderr


def test_log_level_quiets_the_libraries_loggers_too() -> None:
    """django and procrastinate have levels of their own (INFO), and a logger with a level
    hands its records to the root's handler whatever the root's level: LOG_LEVEL=ERROR printed
    every 404's warning (17,000 lines in one run of the PUT benchmark). Now it follows
    LOG_LEVEL above INFO."""
    probe = PROBE + ";logging.getLogger('procrastinate.worker').info('Job started');"
    probe += "logging.getLogger('django.request').error('Internal Server Error: /probe')"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", probe],
        cwd=REPO_ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "stats_project.settings",
            "LOG_LEVEL": "error",
            "SECRET_KEY": "test-" + "k" * 50,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "Not Found: /probe" not in result.stderr
    assert "Job started" not in result.stderr
    assert "Internal Server Error: /probe" in result.stderr

"""Production installs only what it runs, pinned and hashed; the embedded server is a
development extra whose absence is explained."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

from stats.processes import REPO_ROOT

PINNED = re.compile(r"^([A-Za-z0-9._-]+)==([^\s\\]+) \\$")


def pinned_requirements() -> dict[str, str]:
    """Name → version of each requirement of requirements.txt, checking each has hashes."""
    lines = (REPO_ROOT / "requirements.txt").read_text().splitlines()
    pins = {}
    for number, line in enumerate(lines):
        match = PINNED.match(line)
        if match:
            assert "--hash=sha256:" in lines[number + 1], f"{line} has no hash"
            pins[match.group(1).lower()] = match.group(2)
        else:
            assert not line or line.startswith(("#", " ")), f"unexpected line: {line}"
    return pins


def test_production_requirements_are_the_runtime_ones_pinned_with_hashes() -> None:
    """Before: production installed requirements-dev.txt (pytest, mypy, playwright…) and an
    unpinned gunicorn, with no hashes, and the embedded server was a runtime dependency."""
    pins = pinned_requirements()
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    runtime = [Requirement(spec) for spec in project["dependencies"]]
    web = [Requirement(spec) for spec in project["optional-dependencies"]["web"]]
    for requirement in [*runtime, *web]:
        name = requirement.name.lower()
        assert name in pins, f"{name} is not pinned in requirements.txt"
        assert requirement.specifier.contains(pins[name]), (name, pins[name])
    assert "gunicorn" in pins
    embedded = [Requirement(spec).name for spec in project["optional-dependencies"]["embedded"]]
    assert embedded == ["pgserver"]
    for development_only in ("pgserver", "pytest", "mypy", "ruff", "playwright", "hypothesis"):
        assert development_only not in pins
        assert development_only not in {r.name for r in runtime}


def test_without_pgserver_the_embedded_backend_says_what_to_install(tmp_path: Path) -> None:
    """A server that must be started (a new data folder) without pgserver installed: the error
    says what to install. (A server already running is joined without the package.)"""
    code = (
        "import pathlib, sys; sys.modules['pgserver'] = None\n"  # as if it were not installed
        "from stats_project.embedded_postgres.server import ensure_server\n"
        "ensure_server(pathlib.Path(sys.argv[1]), 'matchday', initialise=True)\n"
    )
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    }
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "pgdata")],
        cwd=REPO_ROOT,
        env={**environment, "DEBUG": "true", "DJANGO_SETTINGS_MODULE": "stats_project.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "its package (pgserver) is not installed" in result.stderr
    assert "pip install -e '.[embedded]'" in result.stderr

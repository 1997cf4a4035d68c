"""The Makefile's development server takes the port to listen on (another project, or a second
checkout, may hold 8000)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def dry_run(*arguments: str) -> str:
    """What `make` would run, without running it (the venv's stamp file counts as made)."""
    return subprocess.run(
        ["make", "--dry-run", "--always-make", "--file", str(ROOT / "Makefile"), *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_web_listens_on_the_port_given() -> None:
    assert "manage.py runserver 127.0.0.1:8000" in dry_run("web")
    assert "manage.py runserver 127.0.0.1:8123" in dry_run("web", "PORT=8123")

"""Debian's Chromium, driven by Playwright, for the tests that run a real browser."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Without it the browser tests are skipped, except under CI=true: the CI machine promises it, so
# there a missing one fails them.
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists() and os.environ.get("CI") != "true",
    reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)",
)

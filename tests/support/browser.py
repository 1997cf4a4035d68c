"""Debian's Chromium, driven by Playwright, for the tests that run a real browser."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Playwright

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


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless (Playwright's own browser downloads do not work here)."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )


def signed_in_context(
    browser: Browser, url: str, session_cookie: str, **options: Any
) -> BrowserContext:
    """A new browser context (Playwright's `options`) carrying a player's session cookie for
    `url`'s site."""
    context = browser.new_context(**options)
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session_cookie, "url": url}]
    )
    return context

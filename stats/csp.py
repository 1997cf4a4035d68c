"""Content-Security-Policy for every answer (Django 5.2 has none built in).

Scripts run only from this site's own files, or inline with this response's nonce (the
leaderboard page's picker script); no inline event handlers, no plugins, no framing, no foreign
form targets. Inline styles stay allowed: the page keeps its CSS inline and the admin writes a
few `<style>` blocks, and a style cannot run code. Django's admin (5.2) loads every script from a
file, so it works under this policy unchanged.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

POLICY = (
    "default-src 'self'; "
    "script-src 'self' 'nonce-{nonce}'; "
    "style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; "
    "object-src 'none'; "
    "base-uri 'none'; "
    "form-action 'self'; "
    "frame-ancestors 'none'"
)


class ContentSecurityPolicyMiddleware:
    """Gives each request a fresh nonce (`request.csp_nonce`, for templates) and each response
    the policy, unless a view set its own or it is a 304 (Not Modified, no body of its own)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        nonce = secrets.token_urlsafe(16)
        request.csp_nonce = nonce  # type: ignore[attr-defined]
        response = self.get_response(request)
        # A 304 leaves the policy alone: the browser keeps the headers of the copy it revalidated
        # but takes any new ones from the 304, and a fresh nonce would block that copy's script.
        if response.status_code != 304:
            response.headers.setdefault("Content-Security-Policy", POLICY.format(nonce=nonce))
        return response

"""Conditional GET for the board answers: they change only when a refresh commits.

Every refresh (and rebuild) stamps the refresh log (`ViewRefresh`) in the same transaction that
moves the boards, with one time for all of them, so the log's latest stamp names the state every
board answer was produced from. A board answer carries it as `ETag` and `Last-Modified`; a GET
whose `If-None-Match` (or, without one, `If-Modified-Since`) matches is answered 304 after that
single query, before any board is read.

A GET that carries a validator has the stamp read first, on its own: should a refresh commit
between that read and the boards', the answer's validator names the older state, and the next
conditional GET gets the full answer (a miss), never a 304 for rows it did not see. A GET without
one cannot be answered 304, so it costs no query of its own: the view's read brings the stamp in
its own statement (the same snapshot as its rows) and names it with `refresh_read`.

The stamp is read where the answer's boards are read (the replica while it serves, see
stats/replica.py), so a validator never names a state newer than the rows it came with.
Answers that depend on who asks (the HTML page of a signed-in player) put the player's id in
their ETag. `Last-Modified` has whole seconds only: two refreshes within one second are told
apart by the ETag, which every browser sends beside it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextvars import ContextVar
from datetime import datetime
from typing import Any, Concatenate, ParamSpec

from django.http import HttpRequest, HttpResponse
from django.utils.cache import get_conditional_response, patch_cache_control
from django.utils.http import http_date, quote_etag

from stats import selectors

P = ParamSpec("P")
_refresh_in_effect: ContextVar[datetime | None] = ContextVar("board_refresh", default=None)
# Under a GET without validators: where the view names the refresh its read saw.
_refresh_seen: ContextVar[list[datetime] | None] = ContextVar("board_refresh_seen", default=None)
View = Callable[Concatenate[HttpRequest, P], HttpResponse]


def latest_refresh() -> datetime | None:
    """The start of the latest refresh of today's relations in the log (one query), None before
    the first one."""
    return selectors.latest_refresh()


def refresh_in_effect() -> datetime | None:
    """Inside a view under conditional_on_refresh: the refresh its validators name (the view
    shows it as `refreshed_at` instead of reading it again); None elsewhere or before any."""
    return _refresh_in_effect.get()


def refresh_read(refreshed_at: datetime | None) -> None:
    """The view's answer shows the boards as of this refresh (read in its own statement): under
    a GET without validators, the answer's validators name it. Elsewhere nothing."""
    seen = _refresh_seen.get()
    if seen is not None and refreshed_at is not None:
        seen.append(refreshed_at)


def _carries_validator(request: HttpRequest) -> bool:
    return "HTTP_IF_NONE_MATCH" in request.META or "HTTP_IF_MODIFIED_SINCE" in request.META


def refresh_etag(refreshed_at: datetime, variant: str = "") -> str:
    """A weak validator for the state of a refresh (weak: an HTML page says how long ago it was
    refreshed, so equal ETags mean equal boards, not equal bytes)."""
    tag = f"{int(refreshed_at.timestamp() * 1_000_000):x}"
    return "W/" + quote_etag(f"{tag}-{variant}" if variant else tag)


def conditional_on_refresh(
    *, private: bool = False, variant: Callable[[HttpRequest], str] | None = None
) -> Callable[[View[P]], View[P]]:
    """Give a board view's 200 answers ETag/Last-Modified from the latest refresh, and answer a
    matching conditional GET with 304 without running the view.

    `variant(request)`, when given, names what else the answer depends on (it joins the ETag);
    `private` keeps shared caches from storing the answer. Every answer must be revalidated
    (`no-cache`): boards change whenever a refresh commits, so no age is safe to assume.
    """

    def decorate(view: View[P]) -> View[P]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, /, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
            if request.method not in ("GET", "HEAD"):
                return view(request, *args, **kwargs)
            if _carries_validator(request):
                refreshed_at = latest_refresh()
                if refreshed_at is None:  # never refreshed: nothing to validate against
                    return view(request, *args, **kwargs)
                etag = refresh_etag(refreshed_at, variant(request) if variant else "")
                response = get_conditional_response(
                    request, etag=etag, last_modified=int(refreshed_at.timestamp())
                ) or _answer(view, refreshed_at, request, *args, **kwargs)
            else:
                seen: list[datetime] = []
                token = _refresh_seen.set(seen)
                try:
                    response = view(request, *args, **kwargs)
                finally:
                    _refresh_seen.reset(token)
                if not seen:  # never refreshed, or an error: no validator
                    return response
                refreshed_at = seen[-1]
                etag = refresh_etag(refreshed_at, variant(request) if variant else "")
            if response.status_code not in (200, 304):  # errors carry no validator
                return response
            response["ETag"] = etag
            response["Last-Modified"] = http_date(int(refreshed_at.timestamp()))
            patch_cache_control(response, no_cache=True, **({"private": True} if private else {}))
            return response

        return wrapper

    return decorate


def _answer(
    view: View[P], refreshed_at: datetime, request: HttpRequest, *args: Any, **kwargs: Any
) -> HttpResponse:
    """The view's full answer, showing the refresh its validators name."""
    token = _refresh_in_effect.set(refreshed_at)
    try:
        return view(request, *args, **kwargs)
    finally:
        _refresh_in_effect.reset(token)


def signed_in_player(request: HttpRequest) -> str:
    """The ETag variant of a page that greets a signed-in player: their id, or nothing."""
    user = getattr(request, "user", None)
    return f"u{user.pk}" if user is not None and user.is_authenticated else ""

"""What a request asks for: strict parsing of the query parameters, and error answers
(`error_response`, the one shape, lives in stats/http.py)."""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass

from django.http import HttpRequest, JsonResponse, QueryDict

from stats.exceptions import InvalidParameter
from stats.http import error_response

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 25
# PostgreSQL's integer: no board has more pages, no competition more rounds.
MAX_INTEGER = 2**31 - 1
_DIGITS = re.compile(r"[0-9]{1,10}")
_SLUG = re.compile(r"[-a-zA-Z0-9_]{1,100}")

__all__ = ["BoardQuery", "database_id", "error_response", "parse_board_query", "shown"]


@dataclass(frozen=True)
class BoardQuery:
    competition: str | None
    round: int | None
    page: int
    page_size: int


def unauthorized_response() -> JsonResponse:
    """401 that tells a client which scheme to use (RFC 6750), and nothing else."""
    response = error_response("Unauthorized", 401)
    response["WWW-Authenticate"] = "Bearer"
    return response


def presents_bearer(request: HttpRequest, secret: str) -> bool:
    """Whether the request carries `Authorization: Bearer <secret>`; never for an empty secret.

    Compared in constant time: how much of a guess matched must not show in the answer's timing.
    """
    presented = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
    return bool(secret) and hmac.compare_digest(presented, f"Bearer {secret}".encode())


def shown(value: str) -> str:
    """A client's value, quoted and cut short, for an error message."""
    return repr(value if len(value) <= 40 else value[:40] + "…")


def database_id(value: str) -> int | None:
    """A path segment as a row id: plain ASCII digits within PostgreSQL's integer, else None."""
    return int(value) if _DIGITS.fullmatch(value) and int(value) <= MAX_INTEGER else None


def _single(params: QueryDict, name: str) -> str | None:
    """The parameter's value; None when absent or empty (an empty form field means "any")."""
    values = params.getlist(name)
    if len(values) > 1:
        raise InvalidParameter(f"{name} is given {len(values)} times; give it once")
    return values[0] if values and values[0] != "" else None


def _integer(params: QueryDict, name: str, *, low: int, high: int) -> int | None:
    value = _single(params, name)
    if value is None:
        return None
    # Only plain ASCII digits: int() would also take " 7", "+7", "7_0" and other scripts' digits.
    if not _DIGITS.fullmatch(value) or not low <= int(value) <= high:
        raise InvalidParameter(
            f"{name} must be a whole number from {low} to {high}, not {shown(value)}"
        )
    return int(value)


def parse_board_query(params: QueryDict) -> BoardQuery:
    """The board and page a request asks for. Raises InvalidParameter with the reason."""
    competition = _single(params, "competition")
    if competition is not None and not _SLUG.fullmatch(competition):
        raise InvalidParameter(
            "competition must be a competition's slug (letters, digits, '-' and '_'), "
            f"not {shown(competition)}"
        )
    round = _integer(params, "round", low=1, high=MAX_INTEGER)
    if round is not None and competition is None:
        raise InvalidParameter("round needs a competition: give ?competition=<slug>&round=<n>")
    page = _integer(params, "page", low=1, high=MAX_INTEGER)
    page_size = _integer(params, "page_size", low=1, high=MAX_PAGE_SIZE)
    return BoardQuery(
        competition,
        round,
        page=1 if page is None else page,
        page_size=DEFAULT_PAGE_SIZE if page_size is None else page_size,
    )

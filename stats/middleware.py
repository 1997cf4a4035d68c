"""HTTP manners for every door (stats/http.py), and a quick 503 when the database is unreachable.

`HttpMannersMiddleware` sits before CSRF: a wrong method is a 405 with `Allow` (never a CSRF
page), HEAD runs as GET with the body left out, too many parameters are a 400, and every error
under /api/ (and on /health) is `{"error": ...}`, whoever produced it: a view, Django's own error
pages (404, 500, CSRF, a malformed request), or an API library's views.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.db import InterfaceError, OperationalError, ProgrammingError
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from psycopg import errors as pg_errors

from stats.http import allowed_methods, answers_json, method_not_allowed, not_allowed_reason

logger = logging.getLogger(__name__)

UNAVAILABLE = "the database is unavailable; try again shortly"
NOT_MIGRATED = "the database is not migrated; an operator must run manage.py migrate"
RETRY_AFTER_SECONDS = 5

# The reason given for an error that came without one (Django's pages, a bare library answer).
_GENERAL_REASONS = {
    400: "bad request: the request is malformed or too large",
    401: "Unauthorized",
    403: "forbidden",
    404: "not found: no endpoint has this path",
    413: "request too large",
    500: "internal server error",
}


class HttpMannersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        # A HEAD runs as the GET it stands for (an API library may not map HEAD at all); the
        # client's method stays in META["REQUEST_METHOD"], and the body is left out below.
        head = request.method == "HEAD"
        if head:
            request.method = "GET"
        response = self._too_many_parameters(request) or self.get_response(request)
        if answers_json(request.path) and response.status_code >= 400:
            _as_json_error(request, response)
        if head:
            _without_body(response)
        return response

    def process_view(
        self,
        request: HttpRequest,
        view: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        # Before CsrfViewMiddleware.process_view: a POST to a read-only view is a 405, not 403.
        allowed = allowed_methods(view)
        if allowed is not None and request.method not in allowed:
            return method_not_allowed(request, allowed)
        return None

    @staticmethod
    def _too_many_parameters(request: HttpRequest) -> HttpResponse | None:
        # Parsed here, once: read first inside a view, the error became a 500 under DEBUG (the
        # debug page reads the parameters again, and fails again).
        try:
            request.GET  # noqa: B018
        except TooManyFieldsSent:
            message = (
                f"too many parameters: at most {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} are read "
                "(DATA_UPLOAD_MAX_NUMBER_FIELDS)"
            )
        except (SuspiciousOperation, RequestDataTooBig) as exc:
            message = f"malformed parameters: {exc}"
        else:
            return None
        logger.warning("refused %s %s: %s", request.method, request.path, message)
        if answers_json(request.path):
            return JsonResponse({"error": message}, status=400)
        return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")


def _without_body(response: HttpResponseBase) -> None:
    """What a HEAD gets: the GET's status and headers (Content-Length included), no body."""
    if isinstance(response, HttpResponse):
        length = response.get("Content-Length", str(len(response.content)))
        response.content = b""
        response["Content-Length"] = length
    elif getattr(response, "streaming", False):
        response.streaming_content = []  # type: ignore[attr-defined]


def _reason_from(body: Any) -> str | None:
    """A library's own error text: a string `detail`, or its validation errors in one line."""
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, str) and detail:
        return detail
    if isinstance(detail, list) and detail and all(isinstance(item, dict) for item in detail):
        problems = []
        for item in detail:
            where = ".".join(str(part) for part in item.get("loc", ()))
            problems.append(f"{where}: {item.get('msg', 'invalid')}" if where else item.get("msg"))
        return "bad request: " + "; ".join(str(problem) for problem in problems)
    return None


def _as_json_error(request: HttpRequest, response: HttpResponseBase) -> None:
    """Give an error answer under /api/ the shape `{"error": ...}`, in place (its headers, such
    as Allow, WWW-Authenticate and Retry-After, are kept)."""
    if not isinstance(response, HttpResponse):
        return
    content_type = response.get("Content-Type", "")
    body: Any = None
    if content_type.startswith("application/json") or "+json" in content_type:
        try:
            body = json.loads(response.content)
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return
        if isinstance(body, dict) and not request.path.startswith("/api/"):
            return  # /health's 503 is its report: status and reasons
    if response.status_code == 422:
        # An API library's "unprocessable" is this API's "malformed": 400.
        response.status_code = 400
        response.reason_phrase = "Bad Request"
    reason = _reason_from(body)
    if response.status_code == 405 and response.has_header("Allow"):
        allowed = [method.strip() for method in response["Allow"].split(",") if method.strip()]
        reason = not_allowed_reason(request, allowed)
    if reason is None:
        reason = _GENERAL_REASONS.get(response.status_code, response.reason_phrase.lower())
    shaped: dict[str, Any] = {"error": reason}
    if isinstance(body, dict):
        shaped.update((key, value) for key, value in body.items() if key != "error")
    response.content = json.dumps(shaped).encode()
    response["Content-Type"] = "application/json"
    if response.has_header("Content-Length"):
        response["Content-Length"] = str(len(response.content))


class DatabaseUnavailableMiddleware:
    """Requests that find the database unreachable or not migrated get a quick 503 that says
    which, not a 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        # Connection-level errors, and a table that does not exist (a database that `migrate`
        # has not brought up to this code); any other query bug stays a 500.
        if isinstance(exception, OperationalError | InterfaceError):
            reason, logged = UNAVAILABLE, "database unavailable"
        elif isinstance(exception, ProgrammingError) and isinstance(
            exception.__cause__, pg_errors.UndefinedTable
        ):
            reason, logged = NOT_MIGRATED, "database not migrated"
        else:
            return None
        logger.warning("%s during %s %s: %s", logged, request.method, request.path, exception)
        response: HttpResponse
        if answers_json(request.path):
            response = JsonResponse({"error": reason}, status=503)
        else:
            response = HttpResponse(reason, status=503, content_type="text/plain")
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

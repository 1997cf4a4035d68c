"""HTTP manners every door shares: which methods a view takes, and the one error shape.

Under `/api/` (and on `/health`) every answer is JSON, errors included: `{"error": "<reason>"}`.
A view declares its methods with `allow_methods`; `stats.middleware.HttpMannersMiddleware`
reads that declaration (or a class-based view's handlers) before CSRF is checked, so a wrong
method is a 405 with `Allow`, never a CSRF page, and gives errors from anywhere (Django's own
pages, an API library's answers) the one shape.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.csrf import csrf_failure as django_csrf_failure

# Answers under these paths are JSON, errors included.
JSON_PATH_PREFIXES = ("/api/",)
JSON_PATHS = frozenset({"/health"})

# The order `Allow` lists methods in.
_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

View = TypeVar("View", bound=Callable[..., HttpResponse])


def answers_json(path: str) -> bool:
    return path in JSON_PATHS or path.startswith(JSON_PATH_PREFIXES)


def error_response(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


class RawJSON(str):
    """JSON text encoded already (by PostgreSQL), written into an answer as it is."""


def json_answer(members: Mapping[str, Any]) -> HttpResponse:
    """A JSON object answer, as JsonResponse's, whose RawJSON members are written as they are
    (at the top level only)."""
    encoder = DjangoJSONEncoder()
    body = ", ".join(
        f"{json.dumps(name)}: {value if isinstance(value, RawJSON) else encoder.encode(value)}"
        for name, value in members.items()
    )
    return HttpResponse("{" + body + "}", content_type="application/json")


def _ordered(methods: Iterable[str]) -> list[str]:
    rank = {method: index for index, method in enumerate(_METHOD_ORDER)}
    return sorted({method.upper() for method in methods}, key=lambda m: (rank.get(m, 99), m))


def with_head(methods: Iterable[str]) -> frozenset[str]:
    """HEAD is answered wherever GET is (load balancers probe with HEAD)."""
    taken = {method.upper() for method in methods}
    return frozenset(taken | {"HEAD"} if "GET" in taken else taken)


def not_allowed_reason(request: HttpRequest, allowed: Iterable[str]) -> str:
    # The method the client sent: a HEAD runs as GET inside (see the middleware).
    method = str(request.META.get("REQUEST_METHOD", request.method)).upper()
    offered = _ordered(allowed)
    shown = [name for name in offered if name != "HEAD"] or offered
    return f"{method} is not allowed here; use {', '.join(shown)}"


def method_not_allowed(request: HttpRequest, allowed: Iterable[str]) -> HttpResponse:
    """405 with `Allow`: JSON under /api/ and on /health, plain text elsewhere."""
    offered = _ordered(allowed)
    message = not_allowed_reason(request, offered)
    response: HttpResponse
    if answers_json(request.path):
        response = error_response(message, 405)
    else:
        response = HttpResponse(message, status=405, content_type="text/plain; charset=utf-8")
    response["Allow"] = ", ".join(offered)
    return response


def allow_methods(*methods: str) -> Callable[[View], View]:
    """The methods a function view takes (HEAD comes with GET); any other is a 405 with `Allow`.

    The middleware answers that 405 before CSRF is checked; the view refuses on its own too, so
    it keeps its manners wherever it is mounted.
    """
    allowed = with_head(methods)

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in allowed:
                return method_not_allowed(request, allowed)
            return view(request, *args, **kwargs)

        wrapper.allowed_methods = allowed  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator


def allowed_methods(view: Callable[..., Any]) -> frozenset[str] | None:
    """The methods a view takes, when it says: `allow_methods`, or a class-based view's
    handlers. None for a view that dispatches on its own (an API library's: it answers its own
    405, which the middleware then gives the JSON shape)."""
    declared = getattr(view, "allowed_methods", None)
    if declared is not None:
        return frozenset(declared)
    view_class = getattr(view, "view_class", None)
    if view_class is not None and hasattr(view_class, "http_method_names"):
        handled = [name for name in view_class.http_method_names if hasattr(view_class, name)]
        return with_head(handled)
    return None


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: under /api/ the JSON shape, elsewhere Django's own page."""
    if answers_json(request.path):
        return error_response(
            f"CSRF verification failed ({reason}): a write from a signed-in browser session "
            "must carry the CSRF token",
            403,
        )
    return django_csrf_failure(request, reason)

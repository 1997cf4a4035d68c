"""The API under /api/ (django-ninja): its operations come from the players' and groups'
routers; the league's boards, a user's stats and the cron call keep their hand-written views
(stats/views/league.py, cron.py), and this document describes them beside the rest, so
`GET /api/openapi.json` names every /api/ endpoint.

Every error answers `{"error": "<reason>"}`, as the hand-written endpoints do.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.openapi.schema import OpenAPISchema
from pydantic import BaseModel

from stats.exceptions import (
    GroupFull,
    GroupJoinThrottled,
    GroupNotFound,
    GroupRuleBroken,
    PageOutOfRange,
    PredictionClosed,
    UnknownCompetition,
)
from stats.groups import JOIN_FAILURE_WINDOW
from stats.http import with_head
from stats.views import groups, players, signin
from stats.views.schemas import CronOut, ErrorOut, LeaderboardPageOut, UserStatsOut


class MatchdayAPI(NinjaAPI):
    def get_content_type(self) -> str:
        return "application/json"  # as the hand-written endpoints answer

    def _get_urls(self) -> list[URLResolver | URLPattern]:
        """Each route declares its methods (stats.http), so a wrong one is a 405 whose Allow
        names HEAD beside GET, answered before CSRF is checked."""
        urls = super()._get_urls()
        methods: dict[str, set[str]] = {}
        for bound in self._get_bound_routers():
            for path_view in bound.path_operations.values():
                taken = {method for op in path_view.operations for method in op.methods}
                for op in path_view.operations:
                    name = getattr(op, "url_name", "") or self.get_operation_url_name(
                        op, router=bound.template
                    )
                    methods[name] = taken
        for pattern in urls:
            if isinstance(pattern, URLPattern):
                # The document and the root (a 404) are read-only.
                taken = methods.get(pattern.name or "", {"GET"})
                pattern.callback.allowed_methods = with_head(taken)  # type: ignore[attr-defined]
        return urls

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        _describe_hand_written(schema)
        return schema


api = MatchdayAPI(
    title="matchday stats",
    version="1",
    description="A score-prediction league: boards, predictions, private groups.",
    docs_url=None,  # the document only: an interactive page would load scripts from a CDN
    openapi_url="/openapi.json",
    urls_namespace="api",
)
api.add_router("", signin.router)
api.add_router("", players.router)
api.add_router("", groups.router)


# --- Errors: {"error": "<reason>"} -----------------------------------------------------------


def _error(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return api.create_response(request, {"error": message}, status=status)


def _validation_reason(exc: ValidationError) -> str:
    reasons = []
    for error in exc.errors:
        # ("body", "body", "home_score"): where the value is, then the view's argument (named
        # `body` too), then the field; the first "body" says nothing, the second names a body
        # that is missing altogether.
        loc = list(error.get("loc", ()))
        if loc[:1] == ["body"]:
            loc = loc[1:]
        if loc[:1] == ["body"] and len(loc) > 1:
            loc = loc[1:]
        where = ".".join(str(part) for part in loc)
        reasons.append(f"{where}: {error.get('msg', 'invalid')}" if where else error["msg"])
    return "; ".join(reasons) or "malformed request"


@api.exception_handler(ValidationError)
def _malformed(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return _error(request, _validation_reason(exc), 400)


@api.exception_handler(AuthenticationError)
def _unauthorized(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = _error(request, "Unauthorized", 401)
    response["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _error(request, str(exc), exc.status_code)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, str(exc) or "not found", 404)


@api.exception_handler(GroupNotFound)
@api.exception_handler(UnknownCompetition)
@api.exception_handler(PageOutOfRange)
def _unknown(request: HttpRequest, exc: Exception) -> HttpResponse:
    return _error(request, str(exc), 404)


@api.exception_handler(PredictionClosed)
@api.exception_handler(GroupFull)
def _conflict(request: HttpRequest, exc: Exception) -> HttpResponse:
    return _error(request, str(exc), 409)


@api.exception_handler(GroupRuleBroken)
def _refused(request: HttpRequest, exc: GroupRuleBroken) -> HttpResponse:
    return _error(request, str(exc), 403)


@api.exception_handler(GroupJoinThrottled)
def _throttled(request: HttpRequest, exc: GroupJoinThrottled) -> HttpResponse:
    response = _error(request, str(exc), 429)
    response["Retry-After"] = str(int(JOIN_FAILURE_WINDOW.total_seconds()))
    return response


@api.exception_handler(Exception)
def _to_django(request: HttpRequest, exc: Exception) -> HttpResponse:
    """Any other error goes on to Django, as django-ninja itself does only with DEBUG off (with
    it on, it answered a 500 of its own): so a database that is down is the same 503 as on every
    other door (stats.middleware.DatabaseUnavailableMiddleware), under `make web` too."""
    raise exc


# --- The hand-written endpoints in the document ------------------------------------------------

_BOARD_PARAMETERS = [
    {
        "name": "competition",
        "in": "query",
        "required": False,
        "description": "a competition's slug; without it, the overall board",
        "schema": {"type": "string", "pattern": "^[-a-zA-Z0-9_]{1,100}$"},
    },
    {
        "name": "round",
        "in": "query",
        "required": False,
        "description": "a round of that competition (needs competition)",
        "schema": {"type": "integer", "minimum": 1},
    },
    {
        "name": "page",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "default": 1},
    },
    {
        "name": "page_size",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 25},
    },
]


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
        },
    }


def _hand_written_paths() -> dict[str, dict[str, Any]]:
    error = ErrorOut
    return {
        "/api/leaderboard": {
            "get": {
                "operationId": "leaderboard",
                "summary": "One page of the overall, a competition's or a round's board",
                "tags": ["boards"],
                "parameters": _BOARD_PARAMETERS,
                "responses": {
                    "200": _json(LeaderboardPageOut, "the page"),
                    "400": _json(error, "a malformed or out-of-range parameter"),
                    "404": _json(error, "an unknown competition, or a page past the end"),
                },
            }
        },
        "/api/users/{user_id}/stats": {
            "get": {
                "operationId": "user_stats",
                "summary": "A league player's totals and ranks on every board they are on",
                "tags": ["boards"],
                "parameters": [
                    {
                        "name": "user_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer"},
                    }
                ],
                "responses": {
                    "200": _json(UserStatsOut, "the player's standings"),
                    "404": _json(error, "unknown, or not a league player"),
                },
            }
        },
        "/api/cron/update-stats": {
            "post": {
                "operationId": "cron_update_stats",
                "summary": "Make a refresh of the boards due now (for a scheduler)",
                "tags": ["operations"],
                "security": [{"CronSecret": []}],
                "responses": {
                    "200": _json(CronOut, "the refresh that will run"),
                    "401": _json(error, "without the right secret"),
                    "503": _json(error, "CRON_SECRET is not set"),
                },
            }
        },
    }


def _describe_hand_written(schema: OpenAPISchema) -> None:
    schema["paths"].update(_hand_written_paths())
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for model in (LeaderboardPageOut, UserStatsOut, CronOut, ErrorOut):
        described = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(described.pop("$defs", {}))
        schemas[model.__name__] = described
    components.setdefault("securitySchemes", {})["CronSecret"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "CRON_SECRET",
    }

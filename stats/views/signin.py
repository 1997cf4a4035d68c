"""How a player signs in to the API: Django's session (the browser; writes carry CSRF) or a
bearer token (an app), obtained with username and password through the admin's login throttle."""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, HttpResponse
from ninja import Router, Status
from ninja.errors import HttpError
from ninja.security import HttpBearer, SessionAuth

from stats import players
from stats.views.schemas import ErrorOut, RevokedOut, TokenIn, TokenOut


class PlayerToken(HttpBearer):
    """`Authorization: Bearer <token>`: a token issued by POST /api/auth/token, not revoked."""

    def authenticate(self, request: HttpRequest, token: str) -> AbstractBaseUser | None:
        return players.token_user(secret=token)


class PlayerSession(SessionAuth):
    """The browser's session. CSRF is checked only for a signed-in session (a request without
    one is not a session request and goes on to 401), and only on writes."""

    def _get_key(self, request: HttpRequest) -> str | None:
        if not request.user.is_authenticated:
            return None
        return super()._get_key(request)


# The token first: an app's request never needs the CSRF a session write does.
PLAYER = [PlayerToken(), PlayerSession()]


def player(request: HttpRequest) -> AbstractBaseUser:
    """The signed-in player of a request that passed PLAYER."""
    return cast(AbstractBaseUser, request.auth)  # type: ignore[attr-defined]


router = Router(tags=["sign-in"])


@router.post(
    "/auth/token",
    auth=None,
    response={201: TokenOut, 401: ErrorOut, 429: ErrorOut},
    summary="Issue a bearer token for username and password",
)
def token_create(request: HttpRequest, body: TokenIn, response: HttpResponse) -> Status[Any]:
    """Wrong credentials are counted by the same throttle as the admin's login (django-axes):
    after five failures for one username from one address, that pair is refused (429) for the
    cool-off, even with the right password."""
    user = authenticate(request, username=body.username, password=body.password)
    if getattr(request, "axes_locked_out", False):
        # Answered here as JSON; the flag would make AxesMiddleware swap in its HTML page.
        request.axes_locked_out = False  # type: ignore[attr-defined]
        response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
        return Status(429, {"error": "too many failed sign-ins; try again later"})
    if user is None or not user.is_active:
        return Status(401, {"error": "wrong username or password"})
    issued = players.token_issue(user=user, name=body.name)
    return Status(
        201,
        {"token": issued.secret, "name": issued.token.name, "created_at": issued.token.created_at},
    )


@router.delete(
    "/auth/token",
    auth=PLAYER[0],
    response={200: RevokedOut},
    summary="Revoke the bearer token this request presents",
)
def token_delete(request: HttpRequest) -> dict[str, bool]:
    secret = request.headers["Authorization"].partition(" ")[2].strip()
    if not players.token_revoke(secret=secret):
        raise HttpError(401, "Unauthorized")  # pragma: no cover - authentication checked it
    return {"revoked": True}

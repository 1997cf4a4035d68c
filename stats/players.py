"""The players' writes and reads: bearer tokens, predictions made through the API, a player's own
predictions with their points."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from stats.exceptions import MatchNotFound, PredictionClosed
from stats.models import ApiToken, Match, Prediction

TOKEN_PREFIX = "mdt_"  # noqa: S105 - marks our tokens (secret scanners), not a secret


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once: only its hash is stored


def token_issue(*, user: AbstractBaseUser, name: str = "") -> IssuedToken:
    """A new bearer token for the player (256 random bits); only its SHA-256 is stored."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user_id=user.pk, name=name, key_hash=_token_hash(secret), prefix=secret[:12]
    )
    return IssuedToken(token=token, secret=secret)


def token_user(*, secret: str) -> AbstractBaseUser | None:
    """The active player a presented token belongs to, or None (unknown, revoked, inactive)."""
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=_token_hash(secret), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    # Written at most once a minute per token: a busy app must not turn every read into a write.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def token_revoke(*, secret: str) -> bool:
    """Revoke the token with this secret; whether one was active."""
    revoked = ApiToken.objects.filter(key_hash=_token_hash(secret), revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    return revoked > 0


def prediction_closed_reason(*, match_id: int) -> str | None:
    """Why a match takes no more predictions (the database's own rule), or None while it does."""
    return Prediction(match_id=match_id).closed_reason()


@transaction.atomic
def prediction_put(
    *, user: AbstractBaseUser, match_id: int, home_score: int, away_score: int
) -> tuple[Prediction, bool]:
    """Create or change the player's prediction for a match; (prediction, created).

    Raises MatchNotFound, or PredictionClosed with the reason once the match has kicked off or is
    no longer scheduled (asked first, so an unchanged prediction after kickoff is refused too;
    the database's trigger decides races with the kickoff).
    """
    if not Match.objects.filter(pk=match_id).exists():
        raise MatchNotFound(f"no match has the id {match_id}")
    if (reason := prediction_closed_reason(match_id=match_id)) is not None:
        raise PredictionClosed(reason)
    prediction, created = Prediction.objects.select_for_update().get_or_create(
        user_id=user.pk,
        match_id=match_id,
        defaults={"home_score": home_score, "away_score": away_score},
    )
    if not created and (prediction.home_score, prediction.away_score) != (home_score, away_score):
        prediction.home_score, prediction.away_score = home_score, away_score
        prediction.save(update_fields=["home_score", "away_score", "updated_at"])
    return prediction, created


def player_predictions(*, user_id: int) -> list[dict[str, Any]]:
    """The player's predictions, latest kickoff first, with their matches and points."""
    rows = (
        Prediction.objects.filter(user_id=user_id)
        .order_by("-match__kickoff_at", "-match_id")
        .values(
            "match_id",
            "home_score",
            "away_score",
            "points",
            "updated_at",
            competition=F("match__competition__slug"),
            round=F("match__round"),
            home_team=F("match__home_team__name"),
            away_team=F("match__away_team__name"),
            kickoff_at=F("match__kickoff_at"),
            status=F("match__status"),
            match_home_score=F("match__home_score"),
            match_away_score=F("match__away_score"),
        )
    )
    return [dict(row) for row in rows]

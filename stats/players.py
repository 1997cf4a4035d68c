"""The players' writes and reads: bearer tokens, predictions made through the API, a player's own
predictions with their points."""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from stats.exceptions import MatchNotFound, PredictionClosed
from stats.models import ApiToken, Competition, Match, Prediction, RoundName
from stats.selectors import Board
from stats.sql import load_sql

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
    """Why a match takes no more predictions (the database's own rule), or None while it does.

    Raises MatchNotFound when no match has the id (one query answers both).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT stats_prediction_closed_reason(id) FROM stats_match WHERE id = %s", [match_id]
        )
        row = cursor.fetchone()
    if row is None:
        raise MatchNotFound(f"no match has the id {match_id}")
    reason: str | None = row[0]
    return reason


def prediction_put(
    *, user: AbstractBaseUser, match_id: int, home_score: int, away_score: int
) -> tuple[Prediction, bool]:
    """Create or change the player's prediction for a match; (prediction, created).

    Raises MatchNotFound, or PredictionClosed with the reason once the match has kicked off or is
    no longer scheduled (asked first, so an unchanged prediction after kickoff is refused too;
    the database's trigger decides races with the kickoff). Two statements, each its own
    transaction: the question, then the write (stats/sql/prediction_put.sql).
    """
    if (reason := prediction_closed_reason(match_id=match_id)) is not None:
        raise PredictionClosed(reason)
    values = {
        "user_id": user.pk,
        "match_id": match_id,
        "home_score": home_score,
        "away_score": away_score,
    }
    row = None
    # A second try only when the same prediction, committed by a concurrent request after this
    # statement's snapshot was taken (a double submit), was left as it was: the next sees it.
    for _ in range(2):
        # Inside a caller's transaction a savepoint keeps it usable after a refusal; alone, the
        # statement is its own transaction (no BEGIN and COMMIT to wait for).
        savepoint = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
        try:
            with savepoint, connection.cursor() as cursor:
                cursor.execute(load_sql("prediction_put.sql"), values)
                row = cursor.fetchone()
                names = [column.name for column in cursor.description]
        except IntegrityError as error:
            cause = error.__cause__
            if getattr(cause, "sqlstate", None) != PredictionClosed.SQLSTATE:
                raise
            raise PredictionClosed(cause.diag.message_primary) from error  # type: ignore[union-attr]
        if row is not None:
            break
    if row is None:  # pragma: no cover - the prediction was deleted meanwhile
        raise MatchNotFound(f"no prediction could be made for match {match_id}")
    fields = dict(zip(names, row, strict=True))
    created = bool(fields.pop("created"))
    return Prediction.from_db(connection.alias, list(fields), list(fields.values())), created


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


def board_position(*, board: Board, standing: dict[str, Any]) -> int:
    """A player's position (1, 2, 3… in rank order, ties by user id) on a board where they
    stand: 1 + the players ranked above + those level with them with a lower id (an index
    range on the totals' board order)."""
    table = board.grain.totals.name
    key = board.key_values()
    where = "".join(f" AND {name} = %({name})s" for name in key)
    with connection.cursor() as cursor:
        # Names from the registry only, never from a request.
        cursor.execute(
            f"SELECT count(*) FROM {table} WHERE total_points = %(points)s"
            f" AND exact_scores = %(exact)s AND user_id < %(user_id)s{where}",
            {
                **key,
                "points": standing["total_points"],
                "exact": standing["exact_scores"],
                "user_id": standing["user_id"],
            },
        )
        (level_before,) = cursor.fetchone()
    return int(standing["rank"]) + int(level_before)


def round_labels(*, competition: Competition) -> list[tuple[int, str]]:
    """A competition's rounds in order, each with its name as the feed gives it (else
    "Round <n>")."""
    named = dict(RoundName.objects.filter(competition=competition).values_list("round", "name"))
    rounds = (
        Match.objects.filter(competition=competition)
        .order_by("round")
        .values_list("round", flat=True)
        .distinct()
    )
    return [(round, named.get(round) or f"Round {round}") for round in rounds]


def upcoming_matches(*, user_id: int, limit: int = 60) -> list[dict[str, Any]]:
    """Matches still open for predictions (scheduled, not kicked off), soonest first, with the
    player's prediction when there is one; then their latest matches that have closed."""
    now = timezone.now()
    mine = {
        row["match_id"]: row
        for row in Prediction.objects.filter(user_id=user_id).values(
            "match_id", "home_score", "away_score", "points"
        )
    }
    open_matches = list(
        Match.objects.filter(status=Match.Status.SCHEDULED, kickoff_at__gt=now)
        .select_related("competition", "home_team", "away_team")
        .order_by("kickoff_at", "id")[:limit]
    )
    closed = list(
        Match.objects.filter(pk__in=mine.keys())
        .exclude(pk__in=[match.pk for match in open_matches])
        .select_related("competition", "home_team", "away_team")
        .order_by("-kickoff_at", "-id")[:10]
    )
    shown = [*open_matches, *closed]
    named = {
        (competition_id, round): name
        for competition_id, round, name in RoundName.objects.filter(
            competition_id__in={match.competition_id for match in shown}
        ).values_list("competition_id", "round", "name")
    }
    return [
        {
            "match": match,
            "open": match in open_matches,
            "prediction": mine.get(match.pk),
            "round_label": named.get((match.competition_id, match.round)) or f"Round {match.round}",
        }
        for match in shown
    ]

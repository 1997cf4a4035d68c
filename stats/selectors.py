"""The league's reads: board pages, the rounds of a competition, a user's standings.

Boards are read from the per-player totals and the rank views only (never ranked per request):
a page starts at the (points, exact) group that holds its first position, read through the
totals' index in board order, and a rank is one lookup (1 + the players above). The job queue is
never read here (see stats/monitoring.py for the operator's reads).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, router
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from psycopg import sql

from stats.exceptions import PageOutOfRange, UnknownCompetition
from stats.models import (
    Competition,
    Match,
    UserTotal,
)
from stats.relations import COMPETITION, GRAINS, OVERALL, ROUND, STATS_RELATIONS, Grain
from stats.sql import load_sql, native_placeholders, prepared_cursor

# --- Leaderboards ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Board:
    """Which board: the overall one, a competition's, or one round of a competition."""

    grain: Grain
    competition: Competition | None = None
    round: int | None = None

    @property
    def has_movement(self) -> bool:
        """Whether its entries carry previous_rank (the overall and competition boards)."""
        return self.grain.movement is not None

    def key_values(self) -> dict[str, int]:
        values = {}
        if self.competition is not None:
            values["competition_id"] = self.competition.pk
        if self.round is not None:
            values["round"] = self.round
        return values


# Every board has the same columns, whatever its scope.
_STANDING_COLUMNS = ("total_points", "predictions_scored", "exact_scores", "correct_outcomes")


def board_get(*, competition_slug: str | None = None, round: int | None = None) -> Board:
    """The board for a competition slug and round (both optional; a round needs a competition).

    Raises UnknownCompetition when no competition has the slug.
    """
    if competition_slug is None:
        if round is not None:
            raise ValueError("a round board needs a competition")
        return Board(OVERALL)
    competition = Competition.objects.filter(slug=competition_slug).first()
    if competition is None:
        raise UnknownCompetition(f"no competition has the slug {competition_slug!r}")
    if round is None:
        return Board(COMPETITION, competition)
    return Board(ROUND, competition, round)


@functools.cache
def _board_query(template: str, grain: Grain) -> str:
    """A board template (stats/sql/boards/) composed for a grain (once: the same text every
    time, so psycopg knows it again and runs it prepared); its parameters are the board's key
    values by name."""

    def matched(alias: str) -> sql.Composable:
        return sql.SQL("").join(
            sql.SQL("{}.{} = {} AND ").format(
                sql.Identifier(alias), sql.Identifier(name), sql.Placeholder(name)
            )
            for name in grain.board_key
        )

    parameters: dict[str, sql.Composable] = {
        name: sql.Placeholder(name) for name in grain.board_key
    }
    query = sql.SQL(load_sql(f"boards/{template}")).format(
        totals=sql.Identifier(grain.totals.name),
        ranks=sql.Identifier(grain.ranks.name),
        users=sql.Identifier(get_user_model()._meta.db_table),
        board=matched("t"),
        rank_board=matched("r"),
        stamped=sql.Literal(_STAMPED),
        **_previous_rank(grain, "p" if template == "page.sql" else "t", parameters),
    )
    return query.as_string(None)


def _previous_rank(
    grain: Grain, row: str, board: dict[str, sql.Composable], name: str = "previous_rank"
) -> dict[str, sql.Composable]:
    """For the totals row `row` on the board whose key columns are `board` (each a value: a
    parameter, or a column of the row): `name`, its previous_rank (boards/previous_rank.sql, or
    NULL on a board without movement), and `name`_joins, what that reads, to follow the row's own
    joins (boards/previous_rank_joins.sql, or nothing)."""
    if grain.movement is None:
        return {name: sql.SQL("NULL::integer"), f"{name}_joins": sql.SQL("")}

    def matched(alias: str) -> sql.Composable:
        return sql.SQL("").join(
            sql.SQL("{}.{} = {} AND ").format(sql.Identifier(alias), sql.Identifier(key), value)
            for key, value in board.items()
        )

    names = {
        "row": sql.Identifier(row),
        "round_totals": sql.Identifier(ROUND.totals.name),
        "previous_ranks": sql.Identifier(grain.movement.ranks.name),
    }
    return {
        name: sql.SQL(load_sql("boards/previous_rank.sql")).format(
            lowest_board=matched("lowest"), **names
        ),
        f"{name}_joins": sql.SQL(load_sql("boards/previous_rank_joins.sql")).format(
            latest_board=matched("l"), previous_board=matched("previous"), **names
        ),
    }


# The relations every refresh (and rebuild) stamps at once, in the same transaction that moves
# them: their latest stamp names the state every board answer comes from.
_STAMPED = [relation.name for relation in STATS_RELATIONS]


def latest_refresh() -> datetime | None:
    """The start of the latest refresh of today's relations in the log (one small query, where
    the boards are read), None before the first one."""
    rows = _read(
        "SELECT max(refreshed_at) AS latest FROM stats_viewrefresh WHERE view_name = ANY(%s)",
        [_STAMPED],
    )
    latest: datetime | None = rows[0]["latest"]
    return latest


def _read(query: str, params: dict[str, Any] | list[Any]) -> list[dict[str, Any]]:
    """Rows of a public read as dicts, on the server that serves public reads (the replica when
    one does: see stats/replica.py), prepared once it has run a few times on the connection."""
    alias = router.db_for_read(UserTotal) or DEFAULT_DB_ALIAS
    with prepared_cursor(alias) as cursor:
        cursor.execute(*native_placeholders(query, params))
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@dataclass(frozen=True)
class LeaderboardPage:
    board: Board
    # The page's entries as a JSON array, as its statement wrote them (boards/page.sql): the API
    # answers with this text as it is; `entries` parses it for everyone else.
    entries_json: str
    page: int
    page_size: int
    total_entries: int
    refreshed_at: datetime | None

    @functools.cached_property
    def entries(self) -> list[dict[str, Any]]:
        """Each entry: rank, user_id, username, the standing columns, previous_rank (on a round's
        board always null: nothing of that board came before its round)."""
        entries: list[dict[str, Any]] = json.loads(self.entries_json)
        return entries

    @property
    def total_pages(self) -> int:
        """Pages in the board; an empty board still has its (empty) first page."""
        return max(1, math.ceil(self.total_entries / self.page_size))


def leaderboard_page(
    *, board: Board, page: int, page_size: int, refreshed_at: datetime | None = None
) -> LeaderboardPage:
    """One page of a board, best first (rank order, ties by user id), in one query at any depth.

    `refreshed_at`: the latest refresh when the caller has read it already (every refresh stamps
    all the boards at once), else the one the page's own statement saw.

    Raises PageOutOfRange past the last page; page 1 of an empty board is an empty page.
    """
    first = (page - 1) * page_size + 1
    rows = _read(
        _board_query("page.sql", board.grain),
        {**board.key_values(), "first": first, "size": page_size},
    )
    (row,) = rows
    total_entries = row["total_entries"]
    if page > 1 and first > total_entries:
        raise PageOutOfRange(
            f"page {page} is past the end: the board has "
            f"{max(1, math.ceil(total_entries / page_size))} page(s) of {page_size}"
        )
    return LeaderboardPage(
        board=board,
        entries_json=row["entries"],
        page=page,
        page_size=page_size,
        total_entries=total_entries,
        refreshed_at=refreshed_at or row["latest_refresh"],
    )


def user_board_standing(*, board: Board, user_id: int) -> dict[str, Any] | None:
    """A user's row on a board (rank and totals), or None when they are not on it."""
    query = _board_query("standing.sql", board.grain)
    rows = _read(query, {**board.key_values(), "user_id": user_id})
    return rows[0] if rows else None


def with_rank(rows: QuerySet[Any, Any], grain: Grain) -> QuerySet[Any, Any]:
    """Totals rows of `grain` with each row's rank: 1 + the players above its group, one lookup
    in the board's rank view per row."""
    table = grain.totals.name
    matched = " AND ".join(
        f"r.{name} = {table}.{name}" for name in (*grain.board_key, "total_points", "exact_scores")
    )
    # Names from the registry only, never from a request: nothing to inject.
    rank = RawSQL(f"SELECT r.players_above + 1 FROM {grain.ranks.name} AS r WHERE {matched}", [])  # noqa: S611
    ranked: QuerySet[Any, Any] = rows.annotate(rank=rank)
    return ranked


def competition_list() -> list[dict[str, str]]:
    """Every competition's slug and name, by name: the board picker's choices (a prepared
    public read like the page beside it, not a queryset: the ORM's compiling and its model
    instances were most of this small read's time)."""
    return _read("SELECT slug, name FROM stats_competition ORDER BY name, slug", [])


def competition_rounds(*, competition: Competition) -> list[int]:
    """The rounds (matchdays) a competition has matches in, in order."""
    return list(
        Match.objects.filter(competition=competition)
        .order_by("round")
        .values_list("round", flat=True)
        .distinct()
    )


# --- A user's stats ----------------------------------------------------------------------------


@dataclass(frozen=True)
class UserStats:
    user_id: int
    username: str
    overall: dict[str, Any]
    competitions: list[dict[str, Any]]
    rounds: list[dict[str, Any]]
    refreshed_at: datetime | None


def user_stats(*, user_id: int, refreshed_at: datetime | None = None) -> UserStats | None:
    """A user's totals and rank overall, in each competition and in each round they appear in,
    in one statement (stats/sql/boards/user_stats.sql). (`refreshed_at`: the latest refresh when
    the caller has read it already, else the one the statement saw, as for a page.)

    None unless the user is a league player: active, with at least one prediction (accounts that
    only run the site, staff without predictions, stay private). A player with nothing scored
    gets zero totals, no rank, no boards.
    The account is read where the boards are (the replica, when one serves public reads), as a
    page's usernames are: a public read costs one round trip, and a username seconds old is fine.
    """
    rows = _read(_user_stats_query(), {"user_id": user_id})
    if not rows:
        return None
    row = rows[0]
    return UserStats(
        user_id=row["user_id"],
        username=row["username"],
        overall=row["overall"]
        or {"rank": None, "previous_rank": None, **dict.fromkeys(_STANDING_COLUMNS, 0)},
        competitions=row["competitions"],
        rounds=row["rounds"],
        refreshed_at=refreshed_at or row["latest_refresh"],
    )


@functools.cache
def _user_stats_query() -> str:
    names = {
        f"{grain.name}_{part}": sql.Identifier(relation.name)
        for grain in GRAINS
        for part, relation in (("totals", grain.totals), ("ranks", grain.ranks))
    }
    # Movement: the previous_rank of the player's overall row and of each competition row (t).
    previous = {
        **_previous_rank(OVERALL, "t", {}, name="overall_previous_rank"),
        **_previous_rank(
            COMPETITION,
            "t",
            {"competition_id": sql.Identifier("t", "competition_id")},
            name="competition_previous_rank",
        ),
    }
    query = sql.SQL(load_sql("boards/user_stats.sql")).format(
        users=sql.Identifier(get_user_model()._meta.db_table),
        stamped=sql.Literal(_STAMPED),
        **names,
        **previous,
    )
    return query.as_string(None)

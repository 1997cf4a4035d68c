"""A seeded, set-based generator of a league: U users, M matches, one prediction per user per match.

Users and predictions are written by `INSERT ... SELECT` over `generate_series` and a cross join,
never row by row; predicted scores come from `hashint8extended(…, seed)`, so the same seed gives
the same league whatever plan the server picks. Matches (a few hundred rows) are built in Python
from a seeded `random.Random`.

The league is laid out as it would be in mid-season, in kickoff order:
- `scored`: completed matches whose points are calculated;
- `reserved`: completed matches whose points are not calculated yet (the scoring benchmarks use
  them, so every measured scoring writes a fresh match, as the first scoring in production does);
- `scheduled`: future matches, already predicted (the pipeline benchmarks complete them).
Predictions are stored round by round and, within a round, user by user, as users make them: one
match's predictions are spread over its round's pages, not packed together.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.utils import timezone

from bench.relations import all_relations, stats_rebuild
from stats.models import PREDICTION_KICKOFF_TRIGGER
from stats.scoring import PointTiers

TEAMS_PER_COMPETITION = 20
MATCHES_PER_ROUND = TEAMS_PER_COMPETITION // 2
COMPETITIONS = (("Premier Division", "premier-division"), ("Championship", "championship"))
# Goals as people score and predict them: mostly 0-2, sometimes 3 or 4.
GOALS = (0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 3, 3, 4)
MATCH_SPACING = dt.timedelta(hours=8)
MATCH_LENGTH = dt.timedelta(hours=2)


@dataclass(frozen=True)
class Scale:
    users: int
    matches: int

    @property
    def predictions(self) -> int:
        return self.users * self.matches

    def __str__(self) -> str:
        return f"{self.users:,} users x {self.matches:,} matches = {self.predictions:,} predictions"


@dataclass(frozen=True)
class League:
    scale: Scale
    competition_slugs: tuple[str, ...]
    scored_match_ids: tuple[int, ...]
    reserved_match_ids: tuple[int, ...]
    scheduled_match_ids: tuple[int, ...]
    user_ids: tuple[int, int]  # first and last id; every id in between is a user


def league_generate(
    scale: Scale,
    *,
    reserved: int,
    scheduled: int,
    seed: int,
    say: Callable[[str], None],
    layout: str = "rounds",
) -> League:
    """Fill the (empty, migrated) database with a league of `scale`; see the module docstring."""
    if reserved + scheduled >= scale.matches:
        raise ValueError(
            f"{scale.matches} matches leave none to be scored before the benchmark; "
            f"use at least {reserved + scheduled + 1} matches"
        )
    rng = random.Random(seed)
    tiers = PointTiers.from_settings()
    now = timezone.now()
    completed = scale.matches - scheduled

    with connection.cursor() as cursor:
        say(f"generating {scale}")
        cursor.execute(
            """
            INSERT INTO auth_user (password, is_superuser, username, first_name, last_name,
                                   email, is_staff, is_active, date_joined)
            SELECT '!', false, 'fan' || lpad(g::text, 7, '0'), '', '', '', false, true,
                   %(joined)s
            FROM generate_series(1, %(users)s) AS g
            """,
            {"users": scale.users, "joined": now - dt.timedelta(days=365)},
        )
        cursor.execute("SELECT min(id), max(id) FROM auth_user")
        first_user, last_user = cursor.fetchone()
        say(f"  {scale.users:,} users")

        competition_ids = []
        for name, slug in COMPETITIONS:
            cursor.execute(
                "INSERT INTO stats_competition (name, slug) VALUES (%s, %s) RETURNING id",
                [name, slug],
            )
            competition_ids.append(cursor.fetchone()[0])
        team_ids: list[list[int]] = []
        for name, _ in COMPETITIONS:
            cursor.execute(
                """
                INSERT INTO stats_team (name)
                SELECT %s || ' ' || lpad(g::text, 2, '0') FROM generate_series(1, %s) AS g
                RETURNING id
                """,
                [name.split()[0], TEAMS_PER_COMPETITION],
            )
            team_ids.append(sorted(row[0] for row in cursor.fetchall()))

        match_rows: list[tuple[Any, ...]] = []
        for index in range(scale.matches):
            competition, slot = index % len(COMPETITIONS), index // len(COMPETITIONS)
            round_number, position = slot // MATCHES_PER_ROUND + 1, slot % MATCHES_PER_ROUND
            # The circle method: every team plays once a round, never against itself.
            home = team_ids[competition][(round_number + position) % TEAMS_PER_COMPETITION]
            away = team_ids[competition][
                (round_number + TEAMS_PER_COMPETITION - 1 - position) % TEAMS_PER_COMPETITION
            ]
            kickoff = now + (index - completed) * MATCH_SPACING
            result = (rng.choice(GOALS), rng.choice(GOALS))
            if index < completed:
                completed_at = kickoff + MATCH_LENGTH
                scored = index < completed - reserved
                match_rows.append(
                    (
                        competition_ids[competition], round_number, home, away, kickoff,
                        "completed", *result, completed_at,
                        completed_at + dt.timedelta(minutes=1) if scored else None,
                    )
                )  # fmt: skip
            else:
                match_rows.append(
                    (
                        competition_ids[competition], round_number, home, away, kickoff,
                        "scheduled", None, None, None, None,
                    )
                )  # fmt: skip
        cursor.executemany(
            """
            INSERT INTO stats_match (competition_id, round, home_team_id, away_team_id,
                                     kickoff_at, status, home_score, away_score, completed_at,
                                     points_calculated_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            """,
            match_rows,
        )
        cursor.execute("SELECT id FROM stats_match ORDER BY kickoff_at, id")
        match_ids = [row[0] for row in cursor.fetchall()]
        say(f"  {scale.matches:,} matches in {len(COMPETITIONS)} competitions")

        # The ids come from the tables themselves: a superuser may skip the foreign-key
        # triggers, which cost more than the inserts (session_replication_role needs superuser).
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        superuser = cursor.fetchone()[0]
        # History: in the story this league tells, every prediction was made before its match
        # kicked off, but it is loaded after the results, so the check that closes predictions
        # at kickoff is off for this load only (a failed load leaves a bench database that the
        # next run recreates anyway).
        cursor.execute(f"ALTER TABLE stats_prediction DISABLE TRIGGER {PREDICTION_KICKOFF_TRIGGER}")
        if layout == "arrival":
            predictions_by_arrival(cursor, scale, seed=seed, superuser=superuser, say=say)
        else:
            # One round of both competitions at a time: its predictions interleave, user by user.
            block = MATCHES_PER_ROUND * len(COMPETITIONS)
            for start in range(0, scale.matches, block):
                if superuser:
                    cursor.execute("SET session_replication_role = replica")
                cursor.execute(
                    """
                    INSERT INTO stats_prediction (user_id, match_id, home_score, away_score, points,
                                                  created_at, updated_at)
                    SELECT u.id, m.id, predicted.home, predicted.away,
                           CASE WHEN m.points_calculated_at IS NOT NULL THEN
                               stats_prediction_points(
                                   predicted.home, predicted.away, m.home_score, m.away_score,
                                   %(exact)s, %(goal_difference)s, %(outcome)s
                               ) END,
                           m.kickoff_at - interval '2 days',
                           coalesce(m.points_calculated_at, m.kickoff_at - interval '2 days')
                    FROM auth_user AS u
                    CROSS JOIN stats_match AS m
                    CROSS JOIN LATERAL (
                        SELECT hashint8extended(u.id::bigint * 1000003 + m.id, %(seed)s) AS bits
                    ) AS h
                    CROSS JOIN LATERAL (
                        SELECT (%(goals)s::integer[])[1 + (h.bits & 255) %% %(goal_count)s] AS home,
                               (%(goals)s::integer[])[1 + ((h.bits >> 8) & 255) %% %(goal_count)s]
                                   AS away
                    ) AS predicted
                    WHERE m.id = ANY(%(match_ids)s)
                    ORDER BY u.id, m.id
                    """,
                    {
                        "exact": tiers.exact,
                        "goal_difference": tiers.goal_difference,
                        "outcome": tiers.outcome,
                        "seed": seed,
                        "goals": list(GOALS),
                        "goal_count": len(GOALS),
                        "match_ids": match_ids[start : start + block],
                    },
                )
                cursor.execute("RESET session_replication_role")
                done = min(start + block, scale.matches) * scale.users
                say(f"  predictions: {done:,} / {scale.predictions:,}")
        cursor.execute(f"ALTER TABLE stats_prediction ENABLE TRIGGER {PREDICTION_KICKOFF_TRIGGER}")

        say("  vacuum, analyze, fill the statistics (the predictions went in behind the triggers)")
        cursor.execute("VACUUM (ANALYZE) stats_prediction")
        cursor.execute("ANALYZE auth_user, stats_match, stats_competition, stats_team")
        stats_rebuild()
        for relation in all_relations():
            cursor.execute(f"VACUUM (ANALYZE) {relation.name}")
        if superuser:  # flush now, not during the first measurements
            cursor.execute("CHECKPOINT")

    return League(
        scale=scale,
        competition_slugs=tuple(slug for _, slug in COMPETITIONS),
        scored_match_ids=tuple(match_ids[: completed - reserved]),
        reserved_match_ids=tuple(match_ids[completed - reserved : completed]),
        scheduled_match_ids=tuple(match_ids[completed:]),
        user_ids=(first_user, last_user),
    )


# Predictions arrive over the days before each kickoff: this many days at most.
ARRIVAL_DAYS = 5


def predictions_by_arrival(
    cursor: Any, scale: Scale, *, seed: int, superuser: bool, say: Callable[[str], None]
) -> None:
    """Every user predicts every match, stored in the order a real league receives them: each
    prediction at a moment of the ARRIVAL_DAYS before its match's kickoff (from the seeded hash),
    all matches and users interleaved, so one match's rows lie spread over the whole table.

    For tens of millions of rows the table's unique constraints and indexes are dropped for the
    load and built again after it (a sorted build instead of one random insertion per row).
    """
    tiers = PointTiers.from_settings()
    rebuild = _indexes_drop(cursor)
    cursor.execute("SELECT set_config('work_mem', '256MB', false)")
    if superuser:
        cursor.execute("SET session_replication_role = replica")
    say(f"  predictions: {scale.predictions:,} in arrival order (one statement)")
    cursor.execute(
        """
        INSERT INTO stats_prediction (user_id, match_id, home_score, away_score, points,
                                      created_at, updated_at)
        SELECT u.id, m.id, predicted.home, predicted.away,
               CASE WHEN m.points_calculated_at IS NOT NULL THEN stats_prediction_points(
                   predicted.home, predicted.away, m.home_score, m.away_score,
                   %(exact)s, %(goal_difference)s, %(outcome)s
               ) END,
               arrived.at, coalesce(m.points_calculated_at, arrived.at)
        FROM auth_user AS u
        CROSS JOIN stats_match AS m
        CROSS JOIN LATERAL (
            SELECT hashint8extended(u.id::bigint * 1000003 + m.id, %(seed)s) AS bits
        ) AS h
        CROSS JOIN LATERAL (
            SELECT (%(goals)s::integer[])[1 + (h.bits & 255) %% %(goal_count)s] AS home,
                   (%(goals)s::integer[])[1 + ((h.bits >> 8) & 255) %% %(goal_count)s] AS away
        ) AS predicted
        CROSS JOIN LATERAL (
            SELECT m.kickoff_at - make_interval(
                secs => 60 + ((h.bits >> 16) & 1048575) * %(window_s)s / 1048576.0
            ) AS at
        ) AS arrived
        ORDER BY arrived.at
        """,
        {
            "exact": tiers.exact,
            "goal_difference": tiers.goal_difference,
            "outcome": tiers.outcome,
            "seed": seed,
            "goals": list(GOALS),
            "goal_count": len(GOALS),
            "window_s": ARRIVAL_DAYS * 86400,
        },
    )
    cursor.execute("RESET session_replication_role")
    cursor.execute("RESET work_mem")
    say(f"  {len(rebuild)} indexes and constraints built again")
    cursor.execute("SELECT set_config('maintenance_work_mem', '1GB', false)")
    for statement in rebuild:
        cursor.execute(statement)
    cursor.execute("RESET maintenance_work_mem")


def _indexes_drop(cursor: Any) -> list[str]:
    """Drop stats_prediction's unique constraints and indexes; return the statements that make
    them again (the primary key stays when another table's foreign key needs it)."""
    cursor.execute(
        """
        SELECT c.conname, pg_get_constraintdef(c.oid), c.contype
        FROM pg_constraint AS c
        WHERE c.conrelid = 'stats_prediction'::regclass AND c.contype IN ('p', 'u')
          AND NOT (c.contype = 'p' AND EXISTS (
              SELECT 1 FROM pg_constraint AS f
              WHERE f.confrelid = 'stats_prediction'::regclass AND f.contype = 'f'))
        """
    )
    constraints = cursor.fetchall()
    cursor.execute(
        """
        SELECT i.indexname, i.indexdef FROM pg_indexes AS i
        WHERE i.tablename = 'stats_prediction' AND i.schemaname = current_schema()
          AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c
                          WHERE c.conrelid = 'stats_prediction'::regclass
                            AND c.conname = i.indexname)
        """
    )
    indexes = cursor.fetchall()
    rebuild = []
    for name, definition, _ in constraints:
        cursor.execute(f'ALTER TABLE stats_prediction DROP CONSTRAINT "{name}"')
        rebuild.append(f'ALTER TABLE stats_prediction ADD CONSTRAINT "{name}" {definition}')
    for name, definition in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
        rebuild.append(definition)
    return rebuild


def players_and_two_competitions(cursor: Any, players: int) -> None:
    """N players ('player1', ..., passwords unusable) and two competitions, 'premier' and 'cup':
    the start of the players' benchmarks' small leagues (bench.group_boards, bench.movement)."""
    cursor.execute(
        "INSERT INTO auth_user (username, password, is_superuser, is_staff, is_active,"
        " first_name, last_name, email, date_joined)"
        " SELECT 'player' || g, '!', false, false, true, '', '', '', now()"
        " FROM generate_series(1, %s) AS g",
        [players],
    )
    cursor.execute(
        "INSERT INTO stats_competition (name, slug) VALUES ('Premier', 'premier'), ('Cup', 'cup')"
    )

"""Reading fixtures and results in the football.json format (openfootball), with no database.

A file is `{"name": ..., "matches": [{"round", "date", "time"?, "team1", "team2",
"score": {"ft": [home, away]}?, "status"?}]}`. Reading checks every match before anything is
written, and refuses a malformed file with a FeedError naming the file and the match.

The choices, documented in the README ("Loading a season") and docs/operations.md:
- **Identity.** A match is its competition (the file's `name`), its round and its two teams,
  home first: dates and times move between snapshots, those do not. Two matches of one file
  with the same identity are refused.
- **Rounds.** "Matchday N" (or "Round N") is round N. Any other name ("League, Matchday 3",
  "Finals, Quarterfinals") is numbered after the highest such N (0 if none), in the order the
  names first appear in the file: openfootball lists rounds in playing order and appends new
  ones as they are drawn, so a later snapshot keeps the numbers.
- **Time zone.** Times are local to the competition: the zone comes from the file name's
  country code (`en.1.json` → Europe/London; see LOCAL_TIME_ZONES), or `--time-zone`. A time
  with its own offset ("20:00 UTC+2") keeps it. A date without a time is taken as the start of
  that day, so predictions never stay open past a kickoff not yet announced.
- **Teams.** A trailing country code, as international cups write them ("Arsenal FC (ENG)"), is
  dropped, so a club is one team across its league and a cup.
- **Bounds.** A file is at most 8 MB and nested at most 10 deep; it names at most 10,000
  matches; rounds run from 1 to 32,767 (the column's range), dates from 1850 to 2200, and a
  time's own offset from UTC-12 to UTC+14. Anything outside is refused, with the file and the
  match, before anything is written: a value the database or Python's dates cannot hold would
  otherwise fail half-way, or be stored and break every later read of it.
- **Status.** A full-time score (`score.ft`, after 90 minutes: extra time and penalties do not
  count) completes the match; `"status": "postponed"` or `"cancelled"` voids it; otherwise it
  is scheduled.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils.text import slugify

from stats.exceptions import FeedError
from stats.models import Match

# Local time of a competition, by the country code that starts openfootball's file names.
LOCAL_TIME_ZONES = {
    "at": "Europe/Vienna",
    "be": "Europe/Brussels",
    "ch": "Europe/Zurich",
    "de": "Europe/Berlin",
    "en": "Europe/London",
    "es": "Europe/Madrid",
    "fr": "Europe/Paris",
    "it": "Europe/Rome",
    "nl": "Europe/Amsterdam",
    "pt": "Europe/Lisbon",
    "sco": "Europe/London",
    "tr": "Europe/Istanbul",
    "uefa": "Europe/Paris",  # UEFA's competitions kick off on Central European Time
}
STATUSES = {
    "postponed": Match.Status.POSTPONED,
    "cancelled": Match.Status.CANCELLED,
    "canceled": Match.Status.CANCELLED,
}
MAX_SCORE = 32767  # the column is a PositiveSmallIntegerField
MAX_ROUND = 32767  # so is Match.round
MAX_NAME = 200  # Competition.name and Team.name
MAX_FILE_BYTES = 8 * 1024 * 1024  # a real season is under 200 kB
MAX_DEPTH = 10  # the format needs 5 (document, matches, match, score, ft)
MAX_MATCHES = 10_000
YEARS = (1850, 2200)  # kickoff dates, local and in UTC
# A time's own offset: the world's zones run from UTC-12 to UTC+14.
OFFSETS = (-timedelta(hours=12), timedelta(hours=14))
SHOWN = 60  # characters of a value quoted in an error
# The real seasons shipped with the app (the demo plays one; see the README there).
SEASONS_DIR = Path(__file__).resolve().parent / "data" / "football.json"
NUMBERED_ROUND = re.compile(r"(?:matchday|round)\s+(\d+)", re.IGNORECASE)
TIME = re.compile(r"(\d{1,2}):(\d{2})(?:\s*UTC(?:([+-]\d{1,2})(?::?(\d{2}))?)?)?")
COUNTRY_CODE = re.compile(r"\s+\([A-Z]{3}\)$")


@dataclass(frozen=True)
class FeedMatch:
    number: int  # 1-based position in the file's `matches`
    round_name: str
    round: int
    home_team: str
    away_team: str
    kickoff_at: datetime
    status: Match.Status
    score: tuple[int, int] | None

    @property
    def identity(self) -> tuple[int, str, str]:
        return (self.round, self.home_team, self.away_team)

    def __str__(self) -> str:
        return f"match {self.number} ({self.round_name}: {self.home_team} v {self.away_team})"


@dataclass(frozen=True)
class Feed:
    path: Path
    competition_name: str
    time_zone: ZoneInfo
    matches: list[FeedMatch]

    @property
    def competition_slug(self) -> str:
        # "2025/26" would lose its slash to slugify and read 202526.
        return slugify(self.competition_name.replace("/", "-"))[:100]


def feed_read(path: Path, *, time_zone: str | None = None) -> Feed:
    """Read and check a whole football.json file; raise FeedError on anything malformed."""
    document = _document(path)
    zone = _time_zone(path, time_zone)
    if not isinstance(document, dict):
        raise FeedError(f"{path}: expected an object with `name` and `matches`")
    name, raw_matches = document.get("name"), document.get("matches")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_NAME:
        raise FeedError(
            f"{path}: `name` (the competition) must be a string of 1 to {MAX_NAME} characters"
        )
    if not isinstance(raw_matches, list) or not raw_matches:
        raise FeedError(f"{path}: `matches` must be a non-empty list")
    if len(raw_matches) > MAX_MATCHES:
        raise FeedError(f"{path}: {len(raw_matches)} matches; a file holds at most {MAX_MATCHES:,}")
    if not slugify(name.replace("/", "-")):
        raise FeedError(f"{path}: `name` {name!r} has no letters or digits to identify it by")

    round_numbers = _round_numbers(path, raw_matches)
    matches: list[FeedMatch] = []
    seen: dict[tuple[int, str, str], FeedMatch] = {}
    for number, raw in enumerate(raw_matches, start=1):
        match = _match(path, number, raw, round_numbers, zone)
        if (earlier := seen.get(match.identity)) is not None:
            raise FeedError(f"{path}: {match}: the same round and teams as {earlier}")
        seen[match.identity] = match
        matches.append(match)
    return Feed(path, name.strip(), zone, matches)


def _document(path: Path) -> Any:
    """The file's JSON, read only if it is a file of at most MAX_FILE_BYTES, nested at most
    MAX_DEPTH deep."""
    try:
        with path.open("rb") as file:
            content = file.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError as error:
        raise FeedError(f"{path}: no such file") from error
    except IsADirectoryError as error:
        raise FeedError(f"{path}: is a directory, not a file") from error
    except OSError as error:
        raise FeedError(f"{path}: cannot be read: {error.strerror}") from error
    if len(content) > MAX_FILE_BYTES:
        raise FeedError(f"{path}: larger than {MAX_FILE_BYTES // 1024 // 1024} MB")
    try:
        document = json.loads(content.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise FeedError(f"{path}: cannot be read as JSON: not UTF-8 ({error.reason})") from error
    except json.JSONDecodeError as error:
        raise FeedError(f"{path}: cannot be read as JSON: {error}") from error
    except RecursionError as error:
        raise FeedError(f"{path}: nested deeper than {MAX_DEPTH} levels") from error
    if _depth(document) > MAX_DEPTH:
        raise FeedError(f"{path}: nested deeper than {MAX_DEPTH} levels")
    return document


def _depth(document: Any) -> int:
    deepest, level = 0, [document]
    while level:
        deepest += 1
        if deepest > MAX_DEPTH:
            return deepest
        level = [
            child
            for value in level
            if isinstance(value, dict | list)
            for child in (value.values() if isinstance(value, dict) else value)
            if isinstance(child, dict | list)
        ]
    return deepest - 1


def _shown(value: Any) -> str:
    """A value as an error quotes it: its text if a string, else its repr; SHOWN characters."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


def _time_zone(path: Path, name: str | None) -> ZoneInfo:
    if name is None:
        name = LOCAL_TIME_ZONES.get(path.name.split(".")[0].lower())
        if name is None:
            raise FeedError(
                f"{path}: cannot tell the time zone of its local times from the file name; "
                f"pass --time-zone (e.g. Europe/London). Known prefixes: "
                f"{', '.join(sorted(LOCAL_TIME_ZONES))}"
            )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise FeedError(f"{path}: unknown time zone {name!r}") from error


def _round_numbers(path: Path, raw_matches: list[Any]) -> dict[str, int]:
    names: list[str] = []
    for number, raw in enumerate(raw_matches, start=1):
        round_name = raw.get("round") if isinstance(raw, dict) else None
        if not isinstance(round_name, str) or not 0 < len(round_name.strip()) <= MAX_NAME:
            raise FeedError(
                f"{path}: match {number}: `round` must be a string of 1 to {MAX_NAME} characters"
            )
        if round_name.strip() not in names:
            names.append(round_name.strip())
    numbered = {name: int(found[1]) for name in names if (found := NUMBERED_ROUND.fullmatch(name))}
    after = max(numbered.values(), default=0)
    named = [name for name in names if name not in numbered]
    rounds = numbered | {name: after + index for index, name in enumerate(named, start=1)}
    for number, raw in enumerate(raw_matches, start=1):
        round_name = raw["round"].strip()
        if not 1 <= rounds[round_name] <= MAX_ROUND:
            reason = (
                "round numbers start at 1"
                if rounds[round_name] < 1
                else f"round {rounds[round_name]} is past the last round the league can hold "
                f"({MAX_ROUND:,})"
            )
            raise FeedError(f"{path}: {_label(number, raw)}: {reason}")
    return rounds


def _label(number: int, raw: dict[str, Any]) -> str:
    """How an error names a match: its place in the file, its round and its teams."""
    return (
        f"match {number} ({_shown(raw['round'].strip())}: {_shown(raw.get('team1'))} v "
        f"{_shown(raw.get('team2'))})"
    )


def _match(
    path: Path, number: int, raw: dict[str, Any], rounds: dict[str, int], zone: ZoneInfo
) -> FeedMatch:
    round_name = raw["round"].strip()
    teams = [raw.get("team1"), raw.get("team2")]
    label = _label(number, raw)

    def refuse(problem: str) -> FeedError:
        return FeedError(f"{path}: {label}: {problem}")

    if not all(isinstance(team, str) and 0 < len(team.strip()) <= MAX_NAME for team in teams):
        raise refuse(f"`team1` and `team2` must be strings of 1 to {MAX_NAME} characters")
    home, away = (COUNTRY_CODE.sub("", str(team).strip()) for team in teams)
    if home == away:
        raise refuse("a team cannot play itself")
    kickoff_at = _kickoff(raw, zone, refuse)
    score = _full_time(raw.get("score", {}), refuse)
    status_name = raw.get("status")
    if status_name is None:
        status = Match.Status.COMPLETED if score is not None else Match.Status.SCHEDULED
    elif not isinstance(status_name, str) or status_name.lower() not in STATUSES:
        raise refuse(f"unknown `status` {_shown(status_name)!r}; known: {', '.join(STATUSES)}")
    else:
        status = STATUSES[status_name.lower()]
    # The admin applies the same rule to the same pair (Match.result_problem).
    if (problem := Match.result_problem(status, *(score or (None, None)))) is not None:
        raise refuse(problem)
    return FeedMatch(number, round_name, rounds[round_name], home, away, kickoff_at, status, score)


def _kickoff(raw: dict[str, Any], zone: ZoneInfo, refuse: Callable[[str], FeedError]) -> datetime:
    raw_date, raw_time = raw.get("date"), raw.get("time")
    try:
        day = date.fromisoformat(raw_date) if isinstance(raw_date, str) else None
    except ValueError:
        day = None
    if day is None:
        raise refuse(f"`date` must be YYYY-MM-DD, got {_shown(raw_date)!r}")
    if not YEARS[0] <= day.year <= YEARS[1]:
        raise refuse(f"`date` {raw_date!r} is out of range: years {YEARS[0]} to {YEARS[1]}")
    if raw_time is None:
        return _in_range(datetime.combine(day, time(0, 0), tzinfo=zone), day.isoformat(), refuse)
    found = TIME.fullmatch(raw_time.strip()) if isinstance(raw_time, str) else None
    if found is None or int(found[1]) > 23 or int(found[2]) > 59:
        raise refuse(f"`time` must be HH:MM (optionally with UTC±H), got {_shown(raw_time)!r}")
    tzinfo: ZoneInfo | timezone = zone
    if "UTC" in raw_time:
        sign = -1 if (found[3] or "+").startswith("-") else 1
        offset = sign * timedelta(hours=abs(int(found[3] or 0)), minutes=int(found[4] or 0))
        if int(found[4] or 0) > 59 or not OFFSETS[0] <= offset <= OFFSETS[1]:
            raise refuse(f"`time` {raw_time!r} has an offset outside UTC-12 to UTC+14")
        tzinfo = timezone(offset)
    kickoff_at = datetime.combine(day, time(int(found[1]), int(found[2])), tzinfo=tzinfo)
    return _in_range(kickoff_at, f"{day.isoformat()} {raw_time}", refuse)


def _in_range(kickoff_at: datetime, shown: str, refuse: Callable[[str], FeedError]) -> datetime:
    """The kickoff, if it falls within YEARS in UTC too (as the database stores it)."""
    in_utc = kickoff_at.astimezone(UTC)
    if not YEARS[0] <= in_utc.year <= YEARS[1]:
        raise refuse(f"kickoff {shown!r} is out of range: years {YEARS[0]} to {YEARS[1]}")
    return kickoff_at


def _full_time(score: Any, refuse: Callable[[str], FeedError]) -> tuple[int, int] | None:
    if not isinstance(score, dict):
        raise refuse(f"`score` must be an object, got {_shown(score)}")
    full_time = score.get("ft")
    if full_time is None:
        return None
    if (
        not isinstance(full_time, list)
        or len(full_time) != 2
        or not all(type(goals) is int and 0 <= goals <= MAX_SCORE for goals in full_time)
    ):
        raise refuse(f"`score.ft` must be two whole numbers of goals, got {_shown(full_time)}")
    return (full_time[0], full_time[1])

"""`manage.py sync_matches`: the football.json results feed, on the real files shipped with the
app and on small files written by the tests."""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from procrastinate.contrib.django.models import ProcrastinateJob

from stats import jobs
from stats.football_json import SEASONS_DIR
from stats.models import Competition, Match, Team

pytestmark = pytest.mark.django_db

LA_LIGA_FEB = SEASONS_DIR / "2025-26" / "es.1.2026-02-26.json"
LA_LIGA_MAR = SEASONS_DIR / "2025-26" / "es.1.2026-03-13.json"
PREMIER_LEAGUE = SEASONS_DIR / "2024-25" / "en.1.json"
CHAMPIONS_LEAGUE = SEASONS_DIR / "2024-25" / "uefa.cl.json"


def sync(*files: Path, **options: Any) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("sync_matches", *map(str, files), stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def summary(output: str) -> list[str]:
    """Each file's summary, without its timing."""
    return [line.split(" ms: ")[1] for line in output.splitlines()]


def statuses() -> dict[str, int]:
    return dict(Counter(Match.objects.values_list("status", flat=True)))


def queued_scorings() -> list[int]:
    return [
        job.args["match_id"]
        for job in ProcrastinateJob.objects.filter(
            task_name=jobs.CALCULATE_POINTS, status="todo"
        ).order_by("id")
    ]


def match_rows() -> list[tuple[Any, ...]]:
    """Every match row with its row version: any write, even a no-op one, changes xmin."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, xmin::text FROM stats_match ORDER BY id")
        return list(cursor.fetchall())


def write_feed(tmp_path: Path, matches: list[dict[str, Any]], name: str = "en.test.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"name": "Test League 2030/31", "matches": matches}))
    return path


def feed_match(**fields: Any) -> dict[str, Any]:
    return {
        "round": "Matchday 1",
        "date": "2030-08-10",
        "time": "15:00",
        "team1": "Home FC",
        "team2": "Away FC",
        "score": {},
    } | fields


# --- snapshots of a season in progress --------------------------------------------------------


def test_first_snapshot_creates_the_season_and_queues_its_results() -> None:
    """La Liga on 2026-02-26: 380 matches, 249 with a full-time score, 20 teams; each result
    queues its scoring at the fresh-result priority."""
    out, err = sync(LA_LIGA_FEB)
    assert summary(out) == [
        "380 created, 249 completed, 0 corrected, 0 voided, 0 reopened, 0 moved, 0 unchanged "
        "(matches); 20 new teams"
    ]
    assert out.startswith(
        "es.1.2026-02-26.json: Spain Primera División 2025/26, 380 matches "
        "(local times Europe/Madrid) in "
    )
    assert err.splitlines() == [
        f"  es.1.2026-02-26.json: {done}/380 matches" for done in (100, 200, 300, 380)
    ]
    assert statuses() == {"completed": 249, "scheduled": 131}
    assert Competition.objects.get().slug == "spain-primera-division-2025-26"
    assert Team.objects.count() == 20
    assert len(queued_scorings()) == 249
    assert set(ProcrastinateJob.objects.values_list("priority", flat=True)) == {
        jobs.Priority.FRESH_RESULT
    }


def test_second_run_of_the_same_file_changes_and_queues_nothing() -> None:
    """Idempotent: no row written, no job queued, every match unchanged."""
    sync(LA_LIGA_FEB)
    rows, scorings = match_rows(), queued_scorings()
    out, _ = sync(LA_LIGA_FEB)
    assert summary(out) == [
        "0 created, 0 completed, 0 corrected, 0 voided, 0 reopened, 0 moved, 380 unchanged "
        "(matches); 0 new teams"
    ]
    assert match_rows() == rows
    assert queued_scorings() == scorings


def test_newer_snapshot_queues_exactly_the_new_results_and_moves_fixtures() -> None:
    """Two weeks later: 21 new results (each queued once), four fixtures moved (no scoring)."""
    sync(LA_LIGA_FEB)
    ProcrastinateJob.objects.all().delete()
    out, _ = sync(LA_LIGA_MAR)
    assert summary(out) == [
        "0 created, 21 completed, 0 corrected, 0 voided, 0 reopened, 4 moved, 359 unchanged "
        "(matches); 0 new teams"
    ]
    assert statuses() == {"completed": 270, "scheduled": 110}

    def results(path: Path) -> dict[tuple[str, str, str], list[int]]:
        return {
            (m["round"], m["team1"], m["team2"]): m["score"]["ft"]
            for m in json.loads(path.read_text())["matches"]
            if "ft" in m["score"]
        }

    new = results(LA_LIGA_MAR).keys() - results(LA_LIGA_FEB).keys()
    new_ids = {
        Match.objects.get(
            round=int(round_name.split()[-1]), home_team__name=home, away_team__name=away
        ).pk
        for round_name, home, away in new
    }
    assert len(new_ids) == 21
    assert sorted(queued_scorings()) == sorted(new_ids)
    # Celta v Real Madrid moved from 2026-03-07 21:00 to 2026-03-06 21:00, Madrid time (UTC+1).
    moved = Match.objects.get(round=27, home_team__name="RC Celta de Vigo")
    assert moved.kickoff_at == datetime(2026, 3, 6, 20, 0, tzinfo=UTC)


def test_snapshots_in_one_call_apply_in_order() -> None:
    """Several files in one call: each is its own summary, in the order given."""
    out, _ = sync(LA_LIGA_FEB, LA_LIGA_MAR, LA_LIGA_MAR)
    assert [line.split(", ")[0] for line in summary(out)] == [
        "380 created",
        "0 created",
        "0 created",
    ]
    assert statuses() == {"completed": 270, "scheduled": 110}


# --- refusals ---------------------------------------------------------------------------------


def test_broken_file_writes_nothing_and_names_itself_and_the_match(tmp_path: Path) -> None:
    """A copy of the March snapshot whose 300th match has a one-number score: refused with the
    file and the match named; the February state, jobs included, is untouched."""
    sync(LA_LIGA_FEB)
    rows, scorings, teams = match_rows(), queued_scorings(), Team.objects.count()
    document = json.loads(LA_LIGA_MAR.read_text())
    document["matches"][299]["score"] = {"ft": [1]}
    document["matches"][0]["team1"] = "A Brand New Club"  # would be written first
    broken = tmp_path / "es.1.broken.json"
    broken.write_text(json.dumps(document))
    entry = document["matches"][299]
    with pytest.raises(CommandError) as refused:
        sync(broken)
    assert str(refused.value) == (
        f"{broken}: match 300 ({entry['round']}: {entry['team1']} v {entry['team2']}): "
        "`score.ft` must be two whole numbers of goals, got [1]; "
        "nothing from this file was written"
    )
    assert (match_rows(), queued_scorings(), Team.objects.count()) == (rows, scorings, teams)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "cannot be read as JSON: Expecting property name enclosed in double quotes"),
        ('{"name": "X", "matches": []}', "`matches` must be a non-empty list"),
        ('["a list"]', "expected an object with `name` and `matches`"),
        ('{"matches": [{}]}', "`name` (the competition) must be a string of 1 to 200 characters"),
    ],
)
def test_malformed_documents_are_refused(tmp_path: Path, content: str, problem: str) -> None:
    """The file's own shape is checked before any match."""
    path = tmp_path / "en.bad.json"
    path.write_text(content)
    with pytest.raises(CommandError, match="^" + re.escape(f"{path}: {problem}")):
        sync(path)
    assert Competition.objects.count() == 0


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"date": "10/08/2030"}, "`date` must be YYYY-MM-DD, got '10/08/2030'"),
        ({"time": "25:00"}, "`time` must be HH:MM (optionally with UTC±H), got '25:00'"),
        ({"team2": "Home FC"}, "a team cannot play itself"),
        ({"team2": ""}, "`team1` and `team2` must be strings of 1 to 200 characters"),
        ({"score": {"ft": [-1, 0]}}, "`score.ft` must be two whole numbers of goals, got [-1, 0]"),
        (
            {"score": {"ft": ["2", 0]}},
            "`score.ft` must be two whole numbers of goals, got ['2', 0]",
        ),
        ({"status": "abandoned"}, "unknown `status` 'abandoned'; known: postponed, cancelled"),
        (
            {"status": "postponed", "score": {"ft": [1, 0]}},
            "a postponed match has no score: clear both scores, or set the status to completed",
        ),
    ],
)
def test_malformed_matches_are_refused(
    tmp_path: Path, fields: dict[str, Any], problem: str
) -> None:
    """Each rule a match breaks is named, with the match; a good match before it is not kept."""
    path = write_feed(tmp_path, [feed_match(team1="Early FC"), feed_match(**fields)])
    home, away = fields.get("team1", "Home FC"), fields.get("team2", "Away FC")
    with pytest.raises(CommandError) as refused:
        sync(path)
    assert str(refused.value).startswith(
        f"{path}: match 2 (Matchday 1: {home} v {away}): {problem}"
    )
    assert (Competition.objects.count(), Team.objects.count()) == (0, 0)


def test_the_same_fixture_twice_in_a_file_is_refused(tmp_path: Path) -> None:
    """Identity is round and teams: a file cannot name one fixture twice."""
    path = write_feed(tmp_path, [feed_match(), feed_match(date="2030-08-11")])
    with pytest.raises(CommandError) as refused:
        sync(path)
    assert str(refused.value).startswith(
        f"{path}: match 2 (Matchday 1: Home FC v Away FC): the same round and teams as "
        "match 1 (Matchday 1: Home FC v Away FC)"
    )


def test_a_file_named_for_no_known_country_needs_a_time_zone(tmp_path: Path) -> None:
    """Local times without a zone are not guessed: --time-zone settles it."""
    path = write_feed(tmp_path, [feed_match()], name="league.json")
    with pytest.raises(CommandError, match=r"cannot tell the time zone .* pass --time-zone"):
        sync(path)
    sync(path, time_zone="America/Sao_Paulo")
    assert Match.objects.get().kickoff_at == datetime(2030, 8, 10, 18, 0, tzinfo=UTC)


# --- the documented choices -------------------------------------------------------------------


def test_cup_rounds_map_after_the_numbered_ones_in_order_of_appearance() -> None:
    """The Champions League has only named rounds: numbered 1, 2, 3… as they first appear.
    The final, without a score in the file, stays scheduled; teams lose their country code."""
    sync(CHAMPIONS_LEAGUE)
    document = json.loads(CHAMPIONS_LEAGUE.read_text())
    found: dict[str, set[int]] = {}
    for entry in document["matches"]:
        home, away = (entry[team].rsplit(" (", 1)[0] for team in ("team1", "team2"))
        match = Match.objects.get(
            home_team__name=home, away_team__name=away, kickoff_at__date=entry["date"]
        )
        found.setdefault(entry["round"], set()).add(match.round)
    assert found == {
        **{f"League, Matchday {n}": {n} for n in range(1, 9)},
        "Playoffs, Matchday 1": {9},
        "Playoffs, Matchday 2": {10},
        "Finals, Round of 16": {11},
        "Finals, Quarterfinals": {12},
        "Finals, Semifinals": {13},
        "Finals, Final": {14},
    }
    final = Match.objects.get(round=14)
    assert (str(final.home_team), str(final.away_team), final.status) == (
        "Paris Saint-Germain FC",
        "FC Internazionale Milano",
        Match.Status.SCHEDULED,
    )


def test_numbered_rounds_keep_their_numbers_and_named_ones_follow(tmp_path: Path) -> None:
    """A group stage of matchdays, then knockout rounds: "Matchday 3" is 3, whatever the
    order; named rounds come after the highest matchday."""
    path = write_feed(
        tmp_path,
        [
            feed_match(round="Matchday 3", team1="A", team2="B"),
            feed_match(round="Matchday 1", team1="C", team2="D"),
            feed_match(round="Quarter-finals", team1="A", team2="C"),
            feed_match(round="Final", team1="A", team2="D"),
        ],
    )
    sync(path)
    assert list(Match.objects.order_by("round").values_list("home_team__name", "round")) == [
        ("C", 1),
        ("A", 3),
        ("A", 4),
        ("A", 5),
    ]


def test_local_times_are_the_competitions_and_a_missing_time_is_the_start_of_the_day(
    tmp_path: Path,
) -> None:
    """en.* files are London time (BST in August), a stated offset wins, and a date without a
    time closes predictions at that day's first minute, local time."""
    path = write_feed(
        tmp_path,
        [
            feed_match(team1="A", team2="B"),
            feed_match(team1="C", team2="D", time="20:00 UTC+2"),
            feed_match(team1="E", team2="F", time=None),
        ],
    )
    sync(path)
    assert dict(Match.objects.values_list("home_team__name", "kickoff_at")) == {
        "A": datetime(2030, 8, 10, 14, 0, tzinfo=UTC),
        "C": datetime(2030, 8, 10, 18, 0, tzinfo=UTC),
        "E": datetime(2030, 8, 9, 23, 0, tzinfo=UTC),
    }


def test_a_real_season_keeps_its_kickoffs() -> None:
    """The Premier League's opener, Friday 16 August 2024 at 20:00 in London, is 19:00 UTC."""
    sync(PREMIER_LEAGUE)
    opener = Match.objects.get(round=1, home_team__name="Manchester United FC")
    assert (str(opener.away_team), opener.kickoff_at) == (
        "Fulham FC",
        datetime(2024, 8, 16, 19, 0, tzinfo=UTC),
    )
    assert (opener.home_score, opener.away_score, opener.status) == (1, 0, "completed")


def test_corrections_voids_and_reopened_fixtures(tmp_path: Path) -> None:
    """A changed score corrects, "postponed" voids, a status dropped again reopens; each queues
    a re-scoring, and a live match is left live while the feed has no result for it."""
    first = write_feed(
        tmp_path,
        [
            feed_match(team1="A", team2="B", score={"ft": [1, 0]}),
            feed_match(team1="C", team2="D", score={"ft": [2, 2]}),
            feed_match(team1="E", team2="F"),
            feed_match(team1="G", team2="H"),
        ],
    )
    sync(first)
    live = Match.objects.get(home_team__name="G")
    live.status = Match.Status.LIVE
    live.save()
    ProcrastinateJob.objects.all().delete()
    second = write_feed(
        tmp_path,
        [
            feed_match(team1="A", team2="B", score={"ft": [1, 1]}),
            feed_match(team1="C", team2="D", status="postponed"),
            feed_match(team1="E", team2="F", status="cancelled"),
            feed_match(team1="G", team2="H"),
        ],
        name="en.test.2.json",
    )
    out, _ = sync(second)
    assert summary(out) == [
        "0 created, 0 completed, 1 corrected, 2 voided, 0 reopened, 0 moved, 1 unchanged "
        "(matches); 0 new teams"
    ]
    assert dict(Match.objects.values_list("home_team__name", "status")) == {
        "A": "completed",
        "C": "postponed",
        "E": "cancelled",
        "G": "live",
    }
    assert scoring_priorities() == {
        "A": jobs.Priority.RESCORING,  # a correction
        "C": jobs.Priority.RESCORING,  # a completed match voided: points to clear
        "E": jobs.Priority.FRESH_RESULT,  # settled (void) for the first time
    }

    ProcrastinateJob.objects.all().delete()
    out, _ = sync(first)
    assert summary(out) == [
        "0 created, 1 completed, 1 corrected, 0 voided, 1 reopened, 0 moved, 1 unchanged "
        "(matches); 0 new teams"
    ]
    assert scoring_priorities() == dict.fromkeys("ACE", jobs.Priority.RESCORING)


def scoring_priorities() -> dict[str, int]:
    """The home team of each match with a scoring job waiting, and that job's priority."""
    home_teams = dict(Match.objects.values_list("pk", "home_team__name"))
    return {
        home_teams[job.args["match_id"]]: job.priority
        for job in ProcrastinateJob.objects.filter(task_name=jobs.CALCULATE_POINTS)
    }


def test_a_fixture_twice_in_the_database_stops_the_file_and_rolls_it_back(
    tmp_path: Path,
) -> None:
    """Two matches entered by hand as the same fixture: the feed cannot tell which is meant, so
    it refuses the file, and the competition and teams it had created are rolled back too."""
    path = write_feed(tmp_path, [feed_match(team1="New FC", team2="Newer FC"), feed_match()])
    sync(path)
    first = Match.objects.get(home_team__name="Home FC")
    Match.objects.create(
        competition=first.competition,
        round=1,
        home_team=first.home_team,
        away_team=first.away_team,
        kickoff_at=first.kickoff_at,
    )
    rows, teams = match_rows(), Team.objects.count()
    again = write_feed(
        tmp_path, [feed_match(team1="Brand New FC", team2="New FC"), feed_match()], "en.2.json"
    )
    with pytest.raises(CommandError, match="are the same fixture"):
        sync(again)
    assert (match_rows(), Team.objects.count()) == (rows, teams)


# --- bounds: a value outside them is refused before anything is written -----------------------


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        (
            {"round": "Matchday 99999"},
            "round 99999 is past the last round the league can hold (32,767)",
        ),
        (
            {"date": "0001-01-01", "time": "00:00 UTC+14"},
            "`date` '0001-01-01' is out of range: years 1850 to 2200",
        ),
        (
            {"date": "9999-12-31", "time": "23:00 UTC-12"},
            "`date` '9999-12-31' is out of range: years 1850 to 2200",
        ),
        (
            {"date": "2200-12-31", "time": "23:00 UTC-12"},
            "kickoff '2200-12-31 23:00 UTC-12' is out of range: years 1850 to 2200",
        ),
        ({"time": "20:00 UTC+15"}, "`time` '20:00 UTC+15' has an offset outside UTC-12 to UTC+14"),
        (
            {"time": "20:00 UTC+2:75"},
            "`time` '20:00 UTC+2:75' has an offset outside UTC-12 to UTC+14",
        ),
        ({"round": "x" * 201}, "`round` must be a string of 1 to 200 characters"),
    ],
)
def test_values_out_of_range_are_refused_in_one_line(
    tmp_path: Path, fields: dict[str, Any], problem: str
) -> None:
    """ "Matchday 99999" ended in a 75-line traceback (`smallint out of range`) naming neither
    file nor match; kickoffs at the year 1 (UTC+14) or 9999 (UTC-12) were stored, then broke
    every read of them. Each is now one line naming the file and the match; nothing written."""
    path = write_feed(tmp_path, [feed_match(team1="Early FC"), feed_match(**fields)])
    with pytest.raises(CommandError) as refused:
        sync(path)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: match 2 ") or message.startswith(f"{path}: match 2:")
    assert message.endswith(f": {problem}; nothing from this file was written")
    assert (Competition.objects.count(), Team.objects.count(), Match.objects.count()) == (0, 0, 0)


def test_named_rounds_past_the_last_round_are_refused(tmp_path: Path) -> None:
    """A named round is numbered after the highest numbered one: past 32,767 it is refused."""
    path = write_feed(tmp_path, [feed_match(round="Matchday 32767"), feed_match(round="Final")])
    with pytest.raises(CommandError) as refused:
        sync(path)
    assert str(refused.value) == (
        f"{path}: match 2 (Final: Home FC v Away FC): round 32768 is past the last round the "
        "league can hold (32,767); nothing from this file was written"
    )


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    """A missing file got a time-zone complaint (league.json names no country)."""
    missing = tmp_path / "league.json"
    with pytest.raises(CommandError) as refused:
        sync(missing)
    assert str(refused.value) == f"{missing}: no such file; nothing from this file was written"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested deeper than 10 levels"),
        (
            json.dumps({"name": "X", "matches": [feed_match(extra=[[[[[[[[[[1]]]]]]]]]])]}),
            "nested deeper than 10 levels",
        ),
        (" " * (8 * 1024 * 1024 + 1), "larger than 8 MB"),
        (
            json.dumps({"name": "X", "matches": [feed_match()] * 10_001}),
            "10001 matches; a file holds at most 10,000",
        ),
        (b"\xff\xfe{}", "cannot be read as JSON: not UTF-8 (invalid start byte)"),
    ],
)
def test_files_too_big_or_too_deep_are_refused(
    tmp_path: Path, content: str | bytes, problem: str
) -> None:
    path = tmp_path / "en.big.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(CommandError) as refused:
        sync(path)
    assert str(refused.value) == f"{path}: {problem}; nothing from this file was written"

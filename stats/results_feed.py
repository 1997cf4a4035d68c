"""The results feed: bring the league's matches up to date from a football.json file.

Every change goes through Match.save(), so a new, corrected, voided or withdrawn result queues
its scoring exactly as any other save does, in the same transaction; the whole file is one
transaction, so a file is applied entirely or not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction

from stats.exceptions import FeedError
from stats.football_json import Feed, FeedMatch
from stats.models import Competition, Match, RoundName, Team

Progress = Callable[[int, int], None]
PROGRESS_EVERY = 100  # matches


@dataclass
class FeedSync:
    """What one file changed. A match counts once in each category that applies (a fixture
    moved and completed counts in both); `unchanged` ones changed in nothing."""

    competition: str
    matches: int
    created: int = 0
    completed: int = 0
    corrected: int = 0
    voided: int = 0
    reopened: int = 0
    moved: int = 0
    unchanged: int = 0
    teams_created: int = 0

    def __str__(self) -> str:
        return (
            f"{self.created} created, {self.completed} completed, {self.corrected} corrected, "
            f"{self.voided} voided, {self.reopened} reopened, {self.moved} moved, "
            f"{self.unchanged} unchanged (matches); {self.teams_created} new teams"
        )


@transaction.atomic
def matches_sync_from_feed(*, feed: Feed, progress: Progress | None = None) -> FeedSync:
    """Create the competition, teams and matches the feed names, and bring each match's kickoff,
    status and score up to date. Idempotent: an unchanged match is not saved."""
    competition, _ = Competition.objects.get_or_create(
        slug=feed.competition_slug, defaults={"name": feed.competition_name}
    )
    sync = FeedSync(competition=competition.name, matches=len(feed.matches))
    teams = _teams(feed, sync)
    existing = _existing_matches(feed, competition, teams)
    _name_rounds(feed, competition)
    for done, entry in enumerate(feed.matches, start=1):
        home, away = teams[entry.home_team], teams[entry.away_team]
        match = existing.get((entry.round, home.pk, away.pk))
        if match is None:
            match = Match(
                competition=competition, round=entry.round, home_team=home, away_team=away
            )
            sync.created += 1
        changes = _apply(entry, match)
        for change in changes:
            setattr(sync, change, getattr(sync, change) + 1)
        if match.pk is not None and not changes:
            sync.unchanged += 1
        if match.pk is None or changes:
            match.save()
        if progress is not None and (done % PROGRESS_EVERY == 0 or done == len(feed.matches)):
            progress(done, len(feed.matches))
    return sync


def _name_rounds(feed: Feed, competition: Competition) -> None:
    """The rounds as the feed names them ("Round of 16"), for pages; written only when new or
    renamed, so a second run writes nothing."""
    names = {entry.round: entry.round_name for entry in feed.matches}
    known = dict(RoundName.objects.filter(competition=competition).values_list("round", "name"))
    for round, name in sorted(names.items()):
        if known.get(round) != name:
            RoundName.objects.update_or_create(
                competition=competition, round=round, defaults={"name": name}
            )


def _teams(feed: Feed, sync: FeedSync) -> dict[str, Team]:
    names = {name for entry in feed.matches for name in (entry.home_team, entry.away_team)}
    teams = {team.name: team for team in Team.objects.filter(name__in=names)}
    for name in sorted(names - teams.keys()):
        teams[name] = Team.objects.create(name=name)
        sync.teams_created += 1
    return teams


def _existing_matches(
    feed: Feed, competition: Competition, teams: dict[str, Team]
) -> dict[tuple[int, int, int], Match]:
    found: dict[tuple[int, int, int], Match] = {}
    # Locked: a result saved meanwhile by someone else waits for this file, not the other way.
    for match in Match.objects.filter(competition=competition).select_for_update():
        key = (match.round, match.home_team_id, match.away_team_id)
        if key in found:
            raise FeedError(
                f"{feed.path}: matches {found[key].pk} and {match.pk} in the database are the "
                f"same fixture (round {match.round}, teams {match.home_team_id} v "
                f"{match.away_team_id}); merge them in the admin, then sync again"
            )
        found[key] = match
    return found


def _apply(entry: FeedMatch, match: Match) -> list[str]:
    """Set the feed's kickoff and result on `match`; the categories of what changed."""
    changes = []
    if match.pk is not None and match.kickoff_at != entry.kickoff_at:
        changes.append("moved")
    match.kickoff_at = entry.kickoff_at
    result_before = (match.status, match.home_score, match.away_score)
    if entry.status == Match.Status.SCHEDULED and match.status == Match.Status.LIVE:
        return changes  # the feed knows no live state: a live match stays live until its result
    match.status = entry.status
    match.home_score, match.away_score = entry.score or (None, None)
    if (match.status, match.home_score, match.away_score) == result_before:
        return changes
    if entry.status == Match.Status.COMPLETED:
        changes.append("corrected" if result_before[0] == Match.Status.COMPLETED else "completed")
    elif entry.status in Match.VOID_STATUSES:
        changes.append("voided")
    elif match.pk is not None:
        changes.append("reopened")
    return changes

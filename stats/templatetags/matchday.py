"""Template filters for the league's pages."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.filter
def thousands(value: object) -> str:
    """1234567 → "1,234,567" (numbers only; anything else as it is)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "" if value is None else str(value)


@register.filter
def movement(entry: dict[str, object]) -> str:
    """How far a board entry moved since the latest round: "▲2", "▼1", "=" or "" (new)."""
    rank, previous = entry.get("rank"), entry.get("previous_rank")
    if not isinstance(rank, int) or not isinstance(previous, int):
        return ""
    if previous > rank:
        return f"▲{previous - rank}"
    if previous < rank:
        return f"▼{rank - previous}"
    return "="


_ROW = (
    "      <tr{}>\n"
    '        <td class="rank">{}</td>\n'
    '        <td class="name">{}</td>\n'
    "        <td>{}</td>\n"
    "        <td>{}</td>\n"
    "        <td>{}</td><td>{}</td>{}\n"
    "      </tr>\n"
)
_MOVE = '\n        <td class="move{}"{}>{}</td>'
_MINE = ' class="me" aria-current="true"'


@register.simple_tag(takes_context=True)
def board_rows(
    context: template.Context, entries: Iterable[dict[str, Any]], show_movement: bool
) -> SafeString:
    """The rows of a board's table (stats/board_table.html), the signed-in player's marked.

    Built here, not in a template loop: Django's engine took about 0.15 ms a row, most of a
    board page's time (bench/README.md, "Reads over HTTP"). The username is the only text a
    player chose, and it is escaped; everything else is a number written by `thousands` (digits
    and commas) or markup of this module, so the rows are plain `str.format`, not format_html's
    escaping of every value (a third of the page's time)."""
    user = context.get("user")
    me = user.pk if user is not None and user.is_authenticated else None
    rows = []
    for entry in entries:
        moved = ""
        if show_movement:
            shift = movement(entry)
            kind = " up" if shift[:1] == "▲" else " down" if shift[:1] == "▼" else ""
            was = entry.get("previous_rank")
            title = f' title="was {thousands(was)}"' if was else ""
            moved = _MOVE.format(kind, title, shift)
        rows.append(
            _ROW.format(
                _MINE if me == entry["user_id"] else "",
                thousands(entry["rank"]),
                escape(entry["username"]),
                thousands(entry["total_points"]),
                thousands(entry["exact_scores"]),
                thousands(entry["correct_outcomes"]),
                thousands(entry["predictions_scored"]),
                moved,
            )
        )
    return mark_safe("".join(rows))  # noqa: S308 - the username escaped, the rest numbers and our markup

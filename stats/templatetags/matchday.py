"""Template filters for the league's pages."""

from __future__ import annotations

from django import template

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

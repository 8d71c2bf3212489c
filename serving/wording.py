"""Reasons as sales read them on the review page: one list per lead, in words.

The model explains each head (acceptance, win) on its own, and the two lists mostly name the same columns.
Here a column that pushes every head the same way is one sentence ("raises acceptance likelihood and win
likelihood"); one that pushes them apart names each head ("raises acceptance likelihood, lowers win
likelihood")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from leadscore.models.reasons import HEAD_WORDS, MODERATE, STRONG, Reason


@dataclass(frozen=True)
class LeadReason:
    """One column's push on the lead's heads, in one sentence."""

    text: str
    direction: str
    """"up", "down" or "mixed"."""
    status: str


def _strength(size: float) -> str:
    return "strongly " if size >= STRONG else "" if size >= MODERATE else "slightly "


def merged_reasons(reasons: Sequence[Reason]) -> list[LeadReason]:
    """The reasons of all heads as one list, strongest column first, one sentence per column."""
    by_column: dict[str, list[Reason]] = {}
    for reason in reasons:
        by_column.setdefault(reason.feature, []).append(reason)
    merged = []
    for group in sorted(by_column.values(), key=lambda g: max(abs(r.contribution) for r in g), reverse=True):
        subject = group[0].text.rsplit(" — ", 1)[0]  # "Label: value", as `models.reasons.sentence` words it
        signs = {r.contribution > 0 for r in group}
        if len(signs) == 1:
            verb = "raises" if signs.pop() else "lowers"
            heads = " and ".join(HEAD_WORDS.get(r.head, r.head) for r in group)
            strength = _strength(max(abs(r.contribution) for r in group))
            text, direction = f"{subject} — {strength}{verb} {heads}", "up" if verb == "raises" else "down"
        else:
            parts = [
                f"{_strength(abs(r.contribution))}{'raises' if r.contribution > 0 else 'lowers'} "
                f"{HEAD_WORDS.get(r.head, r.head)}"
                for r in group
            ]
            text, direction = f"{subject} — {', '.join(parts)}", "mixed"
        merged.append(LeadReason(text, direction, group[0].status))
    return merged

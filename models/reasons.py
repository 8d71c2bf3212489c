"""Turn per-column SHAP contributions into sentences a salesperson can read."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

HEAD_WORDS = {"accepted": "acceptance likelihood", "won": "win likelihood", "revenue": "expected deal size"}
STRONG, MODERATE = 0.5, 0.15
"""Log-odds sizes above which a contribution is called strong / moderate (else slight)."""


@dataclass(frozen=True)
class Reason:
    """One column's push on one head, in numbers and in words."""

    head: str
    feature: str
    value: str
    status: str
    contribution: float
    text: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for the API and CSV output."""
        return asdict(self)


def humanize(name: str) -> str:
    """`demo_requested` -> `Demo requested`."""
    words = name.replace("_", " ").replace("-", " ").strip()
    return words[:1].upper() + words[1:]


def display_value(raw: object, kind: str, status: str) -> str:
    """How a lead's value reads in a reason; missing and unseen values say so."""
    if status == "missing" or raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return "not given"
    if kind == "boolean":
        text = str(raw).strip().lower()
        shown = "yes" if text in {"1", "1.0", "true", "t", "yes", "y"} else "no"
    elif kind == "numeric":
        try:
            number = float(str(raw).replace(",", ""))
            shown = f"{number:,.0f}" if number.is_integer() else f"{number:,.2f}"
        except ValueError:
            shown = str(raw)
    else:
        shown = str(raw)
    if status == "unseen":
        return f"{shown} (not seen in training)"
    if status == "invalid":
        return f"{shown} (unreadable, treated as missing)"
    return shown


def sentence(head: str, feature: str, value: str, contribution: float) -> str:
    """E.g. "Demo requested: yes — strongly raises win likelihood"."""
    size = abs(contribution)
    strength = "strongly " if size >= STRONG else "" if size >= MODERATE else "slightly "
    verb = "raises" if contribution > 0 else "lowers"
    return f"{humanize(feature)}: {value} — {strength}{verb} {HEAD_WORDS.get(head, head)}"

"""Turn per-column SHAP contributions into sentences a salesperson can read."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from leadscore.features.coerce import display_number
from leadscore.features.config import humanize

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
        """JSON-able form for the API and CSV output (field by field: `asdict` deep-copies, slowly)."""
        return {
            "head": self.head,
            "feature": self.feature,
            "value": self.value,
            "status": self.status,
            "contribution": self.contribution,
            "text": self.text,
        }


_STATUS_NOTES = {
    "rare": "rare in training",
    "unseen": "not seen in training",
    "rare_or_unseen": "rare or not seen in training",
    "invalid": "unreadable, treated as missing",
}
"""What a reason adds after a value whose status is not ok (statuses: `features.transform.STATUSES`)."""


def display_value(raw: object, kind: str, status: str, meaning: str | None = None) -> str:
    """How a lead's value reads in a reason: its `[labels]` meaning when one is given, else the value;
    missing, rare, unseen and unreadable values say so."""
    if status == "missing" or raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return "not given"
    if meaning is not None:
        shown = meaning
    elif kind == "boolean":
        text = str(raw).strip().lower()
        shown = "yes" if text in {"1", "1.0", "true", "t", "yes", "y"} else "no"
    elif kind == "numeric":
        try:
            shown = display_number(float(str(raw).replace(",", "")))
        except ValueError:
            shown = str(raw)
    else:
        shown = str(raw)
    note = _STATUS_NOTES.get(status)
    return f"{shown} ({note})" if note else shown


def sentence(head: str, feature: str, value: str, contribution: float, label: str | None = None) -> str:
    """E.g. "Demo requested: yes — strongly raises win likelihood"; `label` (from `[labels]`) names the column,
    else its humanized name."""
    size = abs(contribution)
    strength = "strongly " if size >= STRONG else "" if size >= MODERATE else "slightly "
    verb = "raises" if contribution > 0 else "lowers"
    return f"{label or humanize(feature)}: {value} — {strength}{verb} {HEAD_WORDS.get(head, head)}"

"""The agreed lead definition (`[qualification]` of leadscore.toml) applied to every scored lead.

Rules may read fields the model does not use (the e-mail domain, say). Those fields are accepted by
`/score` only to evaluate the rules: they are kept in this request's memory and never stored or logged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from leadscore.features.qualification import EMAIL_DOMAIN, QualificationConfig, apply_qualification


def rule_fields(rules: QualificationConfig | None) -> frozenset[str]:
    """Request fields the rules read: each rule's column, and the e-mail column for `email_domain`."""
    if rules is None:
        return frozenset()
    fields = {spec.field for spec in rules.rules}
    if EMAIL_DOMAIN in fields:
        fields.add(rules.email_column)
    return frozenset(fields)


def qualify(
    rules: QualificationConfig,
    model_frame: pd.DataFrame,
    leads: Sequence[Mapping[str, Any]],
    scores: pd.DataFrame,
    missing_values: Sequence[str],
    labels: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Stage, route, rules met/missed, review flag and nurture reasons per lead, in request order; `labels`
    (column -> what sales call it) name columns in the nurture reasons.

    `model_frame` holds the model's columns as submitted; rule-only fields are read from the leads (as
    decoded: `id` and the fields sent).
    """
    sent = leads
    # Only fields some lead sent: an all-empty `email_domain` column would hide the domain derived from `email`.
    extra = sorted({name for row in sent for name in row} & rule_fields(rules) - set(model_frame.columns))
    columns = {name: [row.get(name) for row in sent] for name in extra}
    frame = pd.concat([model_frame, pd.DataFrame(columns, index=model_frame.index)], axis=1)
    result = apply_qualification(
        frame, scores, rules, missing_values=missing_values, allow_missing=True, labels=labels
    )
    return [
        {
            "stage": stage,
            "route": route,
            "rules_met": list(met),
            "rules_missed": list(missed),
            "review_flag": bool(flag),
            "nurture_reasons": list(reasons),
        }
        for stage, route, met, missed, flag, reasons in zip(
            result["stage"],
            result["route"],
            result["rules_met"],
            result["rules_missed"],
            result["review_flag"],
            result["nurture_reasons"],
            strict=True,
        )
    ]

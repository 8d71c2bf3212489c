"""`leadscore qualification check`: what each agreed rule did to historical leads.

Marketing and sales argue about rules with anecdotes; this puts numbers next to every rule (how many leads
it passes, how the passing and failing groups accepted, won and paid) so the two teams see which rules earn
their keep and which cut revenue, and `suggest_thresholds` picks a score threshold from the record.

What a rule "costs" is judged on revenue only when enough wins declare it (`marketing.insights`'s
`RevenueEvidence.sparse`), else on wins, so one huge deal on the wrong side of a rule does not decide it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from leadscore.features.config import OUTCOMES, ConfigError, Labels, LeadscoreConfig, describe
from leadscore.features.outcomes import is_open, without_maturing
from leadscore.features.qualification import QualificationConfig, RuleResults, evaluate_rules
from leadscore.marketing.insights import outcome_frame, revenue_evidence
from leadscore.models.scorer import LeadScorer

_SCORES = np.arange(101)
MAX_CUT = 0.5
"""A rule that fails more than this share of the wins (or of revenue, when revenue decides) is "too strict",
however well its passing leads do: it cuts most of what the funnel is for."""


@dataclass(frozen=True)
class CheckReport:
    """Per-rule and cumulative (funnel) numbers for one data set and one lead definition."""

    leads: int
    rules: pd.DataFrame
    funnel: pd.DataFrame
    results: RuleResults
    outcomes: pd.DataFrame
    """Every outcome role (NaN where unknown or not configured) and `open`, True for leads without an outcome."""

    @property
    def open_leads(self) -> int:
        """Leads without an outcome yet: in the volume, never in rates, wins or revenue per lead."""
        return int(self.outcomes["open"].sum())

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for `--json` (NaN -> null)."""
        return {
            "leads": self.leads,
            "open_leads": self.open_leads,
            "rules": _records(self.rules),
            "funnel": _records(self.funnel),
        }


@dataclass(frozen=True)
class Suggestion:
    """Score thresholds for `min_score`, each with what it would have kept and cut on the data."""

    keep_wins: float
    cut_volume: float
    options: pd.DataFrame
    meets_cut: bool

    @property
    def min_score(self) -> int | None:
        """The proposal: the highest threshold keeping `keep_wins` of the wins, if it also cuts `cut_volume`
        of the volume (and some volume at all); None when no threshold meets both goals."""
        return int(self.options.loc["keep_wins", "min_score"]) if self.meets_cut else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for `--json`."""
        return {
            "keep_wins": self.keep_wins,
            "cut_volume": self.cut_volume,
            "min_score": self.min_score,
            "meets_cut_goal": self.meets_cut,
            "options": _records(self.options.reset_index(names="option")),
        }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def _value_column(outcomes: pd.DataFrame) -> str:
    """What a rule "costs" when it cuts leads: revenue if enough wins declare it, else wins, else acceptances."""
    evidence = revenue_evidence(outcomes)
    if evidence is not None and not evidence.sparse:
        return "revenue"
    return next(c for c in ("won", "accepted", "revenue") if outcomes[c].notna().any())


def _verdict(volume_cut: float, value: str, value_cut: float, wins_cut: float) -> str:
    """ "cuts nothing" when every lead passes; "too strict" when it fails more than `MAX_CUT` of the wins or
    of the value; "costs <value>" when it cuts as large a share of the value as of the volume; else it
    "earns its keep" (it removes weaker-than-average leads and keeps most of what matters)."""
    if volume_cut == 0:
        return "cuts nothing"
    if max(value_cut, 0 if np.isnan(wins_cut) else wins_cut) > MAX_CUT:
        return "too strict"
    if value_cut >= volume_cut:
        return {"revenue": "costs revenue", "won": "costs wins", "accepted": "costs acceptances"}[value]
    return "earns its keep"


def _group(outcomes: pd.DataFrame, mask: pd.Series) -> dict[str, float]:
    """Acceptance, win rate and revenue of the leads in `mask` (NaN for outcomes not configured); rates and
    revenue per lead are over the decided leads, so an open lead is never a loss or zero revenue."""
    group = outcomes[mask.to_numpy(bool)]
    n, decided = len(group), int((~group["open"]).sum())
    revenue = group["revenue"].sum() if outcomes["revenue"].notna().any() else np.nan
    return {
        "leads": n,
        "open_leads": n - decided,
        "accept_rate": group["accepted"].mean(),
        "win_rate": group["won"].mean(),
        "revenue": revenue,
        "revenue_per_lead": revenue / decided if decided else np.nan,
    }


def _share(part: float, whole: float) -> float:
    return part / whole if whole else np.nan


def _rule_rows(results: RuleResults, outcomes: pd.DataFrame, labels: Labels) -> pd.DataFrame:
    descriptions = results.rules.descriptions(lambda column: describe(labels, column)[0])
    value = _value_column(outcomes)
    rows = []
    for rule_id in results.passed.columns:
        passed = results.passed[rule_id]
        good, bad = _group(outcomes, passed), _group(outcomes, ~passed)
        volume_cut = _share(bad["leads"], len(passed))
        value_cut = _share(outcomes.loc[~passed, value].sum(), outcomes[value].sum())
        wins_cut = _share(outcomes.loc[~passed, "won"].sum(), outcomes["won"].sum())
        rows.append(
            {
                "rule": rule_id,
                "description": descriptions[rule_id],
                "passing": good["leads"],
                "pass_share": _share(good["leads"], len(passed)),
                "missing_values": int(results.missing[rule_id].sum()),
                **{f"{k}_pass": v for k, v in good.items() if k != "leads"},
                **{f"{k}_fail": v for k, v in bad.items() if k != "leads"},
                "volume_cut": volume_cut,
                "wins_cut": outcomes.loc[~passed, "won"].sum(min_count=1),
                "wins_cut_share": wins_cut,
                "revenue_cut_share": _share(bad["revenue"], outcomes["revenue"].sum()),
                "judged_on": value,
                "value_cut_share": value_cut,
                "verdict": _verdict(volume_cut, value, value_cut, wins_cut),
            }
        )
    return pd.DataFrame(rows)


def _funnel_rows(results: RuleResults, outcomes: pd.DataFrame) -> pd.DataFrame:
    """Cumulative steps: all leads, not excluded, marketing-qualified, ready, sales-ready (when scored)."""
    everyone = pd.Series(True, index=outcomes.index)
    ready = results.marketing_qualified & results.ready
    steps = [
        ("all leads", everyone),
        ("not excluded", ~results.excluded),
        ("marketing-qualified", results.marketing_qualified),
    ]
    threshold = results.rules.threshold_id
    if threshold is None:
        steps.append(("sales-ready (ready, no score threshold set)", ready))
    else:
        steps.append(("ready", ready))
        if threshold in results.passed.columns:
            steps.append((f"sales-ready ({results.rules.descriptions()[threshold].lower()})", results.sales_ready))
    totals = _group(outcomes, everyone)
    total_wins = outcomes["won"].sum()
    rows = []
    for name, mask in steps:
        stats = _group(outcomes, mask)
        rows.append(
            {
                "step": name,
                **stats,
                "volume_share": _share(stats["leads"], totals["leads"]),
                "wins_kept": _share(outcomes.loc[mask.to_numpy(bool), "won"].sum(), total_wins),
                "revenue_kept": _share(stats["revenue"], totals["revenue"]),
            }
        )
    return pd.DataFrame(rows)


def check_qualification(
    frame: pd.DataFrame, config: LeadscoreConfig, rules: QualificationConfig, scores: pd.DataFrame | None = None
) -> CheckReport:
    """Every rule's pass and fail groups on historical leads, plus the cumulative funnel.

    `scores` (the model's frame for `frame`) adds the score threshold; without it that rule is not checked.
    """
    known = outcome_frame(frame, config.data)
    outcomes = known.reindex(columns=list(OUTCOMES)).assign(open=is_open(known))  # open: before reindexing
    results = evaluate_rules(frame, rules, missing_values=config.data.missing_values, scores=scores)
    rows = _rule_rows(results, outcomes, config.labels)
    return CheckReport(len(frame), rows, _funnel_rows(results, outcomes), results, outcomes)


def check_definition(
    frame: pd.DataFrame,
    config: LeadscoreConfig,
    scorer: LeadScorer | None = None,
    suggest: bool = False,
    keep_wins: float = 0.9,
    cut_volume: float = 0.3,
) -> tuple[CheckReport, Suggestion | None]:
    """The config's qualification rules measured on historical leads (`check_qualification`); with a
    `scorer` the score threshold is checked too, and `suggest` proposes one (`suggest_thresholds`)."""
    if config.qualification is None:
        raise ConfigError("the config has no qualification rules; docs/qualification.md shows how to add them")
    frame = without_maturing(frame, config)[0]  # maturing leads count as open, as in training
    scores = scorer.predict(frame) if scorer is not None else None
    report = check_qualification(frame, config, config.qualification, scores)
    if not suggest:
        return report, None
    if scores is None:
        raise ValueError("suggesting a min_score needs a model's scores")
    return report, suggest_thresholds(report, scores["score"], keep_wins, cut_volume)


def _kept_by_threshold(score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """For thresholds 0..100, the total weight of leads scoring at or above each."""
    counts = np.bincount(np.clip(score, 0, 100).astype(int), weights=weights, minlength=101)
    return counts[::-1].cumsum()[::-1]


def suggest_thresholds(report: CheckReport, score: pd.Series, keep_wins: float, cut_volume: float) -> Suggestion:
    """The highest `min_score` keeping >= `keep_wins` of historical wins, the lowest cutting >= `cut_volume`
    of volume, and the first one combined with the other rules (what sales would actually get).

    Wins kept only fall and volume cut only grows with the threshold, so the first option meets both goals
    exactly when any threshold does; it is proposed only then, and only if it cuts some volume."""
    outcomes = report.outcomes
    if outcomes["won"].isna().all():
        raise ConfigError("suggesting a min_score needs won or revenue outcomes: name them in [data]")
    decided = ~outcomes["open"].to_numpy(bool)  # volume counts every lead; wins and revenue only decided ones
    won = np.where(decided, outcomes["won"].to_numpy(float), 0.0)
    if won.sum() == 0:
        raise ConfigError("suggesting a min_score needs historical wins, and the data has none")
    values = score.to_numpy(float)
    revenue = np.where(decided, outcomes["revenue"].fillna(0.0).to_numpy(float), 0.0)
    volume = _kept_by_threshold(values, np.ones(len(values)))
    wins = _kept_by_threshold(values, won)
    keep = int(_SCORES[wins >= keep_wins * wins[0] - 1e-9].max())
    cut_ok = _SCORES[volume <= (1 - cut_volume) * volume[0] + 1e-9]
    cut = int(cut_ok.min()) if cut_ok.size else 100
    has_revenue = outcomes["revenue"].notna().any()
    rules_ok = (report.results.marketing_qualified & report.results.ready).to_numpy(bool)

    def option(threshold: int, mask: np.ndarray) -> dict[str, float]:
        selected = mask & (values >= threshold)
        return {
            "min_score": threshold,
            "volume_cut": 1 - selected.mean(),
            "wins_kept": won[selected].sum() / won.sum(),
            "revenue_kept": revenue[selected].sum() / revenue.sum() if has_revenue and revenue.sum() else np.nan,
        }

    everyone = np.ones(len(values), dtype=bool)
    options = pd.DataFrame(
        {
            "keep_wins": option(keep, everyone),
            "cut_volume": option(cut, everyone),
            "keep_wins_with_rules": option(keep, rules_ok),
        }
    ).T
    options["min_score"] = options["min_score"].astype(int)
    cut_by_keep = float(options.loc["keep_wins", "volume_cut"])
    return Suggestion(keep_wins, cut_volume, options, bool(cut_by_keep >= cut_volume - 1e-9 and cut_by_keep > 0))

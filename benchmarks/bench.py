"""What every benchmark shares: the goals it states, and the run facts each results file records.

Goals are defined once here, so a benchmark judges its run by the same rule and the same words that
`benchmarks/figures.py` prints in README's goal columns (issue #30). Standard library only: the docs check
imports this without the model libraries.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

QUIET_LOAD = 1.0
"""A 1-minute load average above this means other work shares the cores: timings are not comparable."""


def lookup(results: Any, path: str) -> Any:
    """The value at a dotted path (`splits.0.tool.auc`: keys, and numbers indexing lists)."""
    value = results
    for part in path.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


@dataclass(frozen=True)
class Goal:
    """One goal: the value at `key` must lie within the bounds (a number, or the key of another value of the
    same results, as in "beats logistic regression"). `text` is the goal as README states it."""

    key: str
    text: str
    at_least: float | str | None = None
    at_most: float | str | None = None

    def _bound(self, results: Mapping[str, Any], bound: float | str) -> float:
        return float(lookup(results, bound)) if isinstance(bound, str) else bound

    def met(self, results: Mapping[str, Any]) -> bool:
        value = float(lookup(results, self.key))
        low = self.at_least is None or value >= self._bound(results, self.at_least)
        return low and (self.at_most is None or value <= self._bound(results, self.at_most))


QUALITY_CALIBRATION = "sigmoid"
"""The default calibration: its rows are judged; isotonic rows are measured beside them for the choice."""
QUALITY_GOALS = {
    "auc_to_truth": Goal("won_auc_ratio_to_truth", "≥ 98.5%", at_least=0.985),
    "beats_default_lgbm": Goal("won_auc", "beaten", at_least="default_lgbm_won_auc"),
    "beats_logreg_won": Goal("won_auc", "beaten", at_least="won_auc_logreg"),
    "beats_logreg_accepted": Goal("accepted_auc", "beaten", at_least="accepted_auc_logreg"),
    "ece_won": Goal("won_ece", "≤ 0.02", at_most=0.02),
    "ece_accepted": Goal("accepted_ece", "≤ 0.02", at_most=0.02),
    "revenue": Goal("revenue_predicted_over_actual", "±10%", at_least=0.9, at_most=1.1),
    "refit_ece_won": Goal("refit_future_won_ece", "≤ 0.02", at_most=0.02),
    "refit_ece_accepted": Goal("refit_future_accepted_ece", "≤ 0.02", at_most=0.02),
    "refit_revenue": Goal("refit_future_revenue_over_actual", "±10%", at_least=0.9, at_most=1.1),
}
SERVING_GOALS = {
    "one_lead_p99": Goal("one_lead_explained_ms.p99", "p99 ≤ 15 ms", at_most=15.0),
    "batch_scores_speed": Goal("batch_scores.leads_per_s", "≥ 40k leads/s", at_least=40_000),
    "batch_scores_to_raw": Goal("ratios_to_raw_booster.batch_scores", "≤ 5× raw", at_most=5.0),
    "batch_explained_speed": Goal("batch_explained.leads_per_s", "≥ 4k leads/s", at_least=4_000),
}
SCALE_GOALS = {
    "train_to_bare": Goal("sizes.-1.train.ratio_to_bare", "≤ 1.3× bare `lightgbm.train`", at_most=1.3),
    "train_to_own_lightgbm": Goal("sizes.-1.train.ratio_to_own_lightgbm", "≤ 1.3× its own LightGBM", at_most=1.3),
    "score_memory": Goal("growth_per_10x.score_peak_rss.-1", "scoring peak RSS ≤ 1.2× per 10× leads", at_most=1.2),
}
"""Judged at the largest size measured."""


def missed(goals: Mapping[str, Goal], results: Mapping[str, Any]) -> list[str]:
    """The goals these results miss, as "key text" lines a benchmark prints before exiting non-zero."""
    return [f"{goal.key} {goal.text}" for goal in goals.values() if not goal.met(results)]


def run_info() -> dict[str, Any]:
    """When and under what load a results file was written: every results file records it."""
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


def quiet_or_exit(allow_load: bool) -> bool:
    """Whether the machine is quiet enough to time; when it is not, exit with status 2 unless `allow_load`
    (the results then say `"quiet": false`). Timing benchmarks call this before they start."""
    load = os.getloadavg()[0]
    if load <= QUIET_LOAD:
        return True
    message = f"load average {load:.2f} > {QUIET_LOAD}: other work would slow every timing"
    if not allow_load:
        sys.exit(f"{message}; refusing to time (--allow-load runs anyway and marks the results)")
    print(f"WARNING: {message}; the results will say quiet: false", file=sys.stderr)
    return False

"""The promotion rules, as pure functions: is a new model good enough, and may it replace the champion?

Two checks, in this order:
1. Quality: every probability head must beat one-hot logistic regression (within `baseline_tolerance`) and
   the base rate (AUC above 0.5, log loss below the constant's) on the holdout. A model that fails is
   registered but not promoted, the first version too.
2. Champion: the new model must not be worse than the champion on the same holdout leads, counting only
   leads the champion was not fitted on. A champion that uses a column the current config excludes or
   predicts other outcomes is no fair opponent; a champion fitted on the whole holdout cannot be compared.
"""

from __future__ import annotations

from dataclasses import dataclass

CHAMPION, CHALLENGER = "champion", "challenger"
LOWER_IS_BETTER = ("log_loss", "brier", "ece")
HEADS = ("accepted", "won")


@dataclass(frozen=True)
class QualityCheck:
    """Each head against its baselines: one line per head, and the failures among them."""

    lines: tuple[str, ...]
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        """Every head beats logistic regression and the base rate."""
        return not self.failures


def quality_check(metrics: dict[str, float], tolerance: float) -> QualityCheck:
    """Holdout AUC against logistic regression and the base rate, per head, from `holdout_metrics`."""
    lines: list[str] = []
    failures: list[str] = []
    for head in HEADS:
        if f"{head}_roc_auc" not in metrics:
            continue
        auc, logreg = metrics[f"{head}_roc_auc"], metrics[f"baseline_logreg_{head}_roc_auc"]
        loss, base_loss = metrics[f"{head}_log_loss"], metrics[f"baseline_rate_{head}_log_loss"]
        line = (
            f"{head}: holdout AUC {auc:.3f} vs logistic regression {logreg:.3f} (tolerance {tolerance}), "
            f"log loss {loss:.4f} vs base rate {base_loss:.4f}"
        )
        lines.append(line)
        if not auc >= logreg - tolerance:
            failures.append(f"{head} AUC {auc:.3f} does not beat logistic regression {logreg:.3f}")
        if not (auc > 0.5 and loss < base_loss):
            failures.append(
                f"{head} does not beat the base rate (AUC {auc:.3f}, log loss {loss:.4f} vs {base_loss:.4f})"
            )
    return QualityCheck(tuple(lines), tuple(failures))


@dataclass(frozen=True)
class Comparison:
    """The champion faced on the same holdout leads, or why it could not be."""

    champion_version: str
    metric: str
    champion: float | None = None
    challenger: float | None = None
    leads: int = 0
    """Holdout leads both were scored on (those the champion was not fitted on)."""
    no_contest: str | None = None
    """Why there is no fair comparison: the champion uses excluded columns, other outcomes, or saw the holdout."""


@dataclass(frozen=True)
class GateDecision:
    """What the gate did with a new version and why; `alias` None means registered, not promoted."""

    version: str
    alias: str | None
    reason: str
    champion_version: str | None = None
    champion_metric: float | None = None
    challenger_metric: float | None = None


def better_or_equal(metric: str, challenger: float, champion: float, tolerance: float) -> bool:
    """Not worse than the champion by more than `tolerance`, in the metric's own direction."""
    if metric.endswith(LOWER_IS_BETTER):
        return challenger <= champion + tolerance
    return challenger >= champion - tolerance


def decide(
    version: str, quality: QualityCheck, comparison: Comparison | None, tolerance: float, force: bool = False
) -> GateDecision:
    """Apply the two checks; `force` (an explicit option) promotes whatever they say, and says so."""
    if not quality.passed:
        why = "; ".join(quality.failures)
        if force:
            return GateDecision(version, CHAMPION, f"promoted by request although {why}")
        return GateDecision(version, None, f"registered, not promoted: {why}")
    if comparison is None:
        return GateDecision(version, CHAMPION, "first registered version; beats its baselines")
    c = comparison
    if c.no_contest:
        return GateDecision(version, CHAMPION, f"beats its baselines; {c.no_contest}", c.champion_version)
    assert c.champion is not None and c.challenger is not None
    versus = (
        f"{c.metric} {c.challenger:.4f} vs champion v{c.champion_version} {c.champion:.4f} "
        f"on {c.leads} holdout leads neither was fitted on (tolerance {tolerance})"
    )
    numbers = (c.champion_version, c.champion, c.challenger)
    if better_or_equal(c.metric, c.challenger, c.champion, tolerance):
        return GateDecision(version, CHAMPION, versus, *numbers)
    if force:
        return GateDecision(version, CHAMPION, f"promoted by request although worse: {versus}", *numbers)
    return GateDecision(version, CHALLENGER, f"worse than the champion: {versus}", *numbers)

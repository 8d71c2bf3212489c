"""Model quality on the generator, where the true probabilities are known.

Goals (issue: training pipeline): won ROC-AUC within 2% of the true probabilities' AUC, ECE <= 0.02
per head, total predicted revenue on the holdout within ±10% of actual. Both calibration methods are
measured in the same run so the default is a measured choice. Run: `python benchmarks/quality.py [--n N]`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from sklearn.metrics import roc_auc_score

from features.config import parse_config_text
from training.evaluate import expected_calibration_error
from training.pipeline import fit_and_evaluate
from training.synthetic import CONFIG_TOML, generate_funnel

RESULTS = Path(__file__).parent / "results" / "quality.json"


def measure(n: int, seed: int, calibration: str) -> dict[str, float]:
    """Fit on one generated funnel and compare with its ground truth on the time-based holdout."""
    leads, truth = generate_funnel(n, seed=seed)
    config = parse_config_text(CONFIG_TOML + f'\n[training]\ncalibration = "{calibration}"\nseed = {seed}\n')
    start = time.perf_counter()
    fit = fit_and_evaluate(leads, config)
    seconds = time.perf_counter() - start
    holdout = fit.split.holdout
    true = truth.set_index("lead_id").loc[holdout["lead_id"]]
    m = fit.metrics
    won_true_auc = roc_auc_score(holdout["won"], true["p_won_true"])
    return {
        "n": n,
        "seed": seed,
        "calibration": calibration,
        "fit_seconds": round(seconds, 2),
        "won_auc": m["won_roc_auc"],
        "won_auc_true_probs": won_true_auc,
        "won_auc_ratio_to_truth": m["won_roc_auc"] / won_true_auc,
        "accepted_auc": m["accepted_roc_auc"],
        "accepted_auc_true_probs": roc_auc_score(holdout["accepted"], true["p_accept_true"]),
        "won_auc_logreg": m["baseline_logreg_won_roc_auc"],
        "accepted_auc_logreg": m["baseline_logreg_accepted_roc_auc"],
        "won_ece": m["won_ece"],
        "won_ece_uncalibrated": m["won_ece_uncalibrated"],
        "accepted_ece": m["accepted_ece"],
        "accepted_ece_uncalibrated": m["accepted_ece_uncalibrated"],
        "won_ece_true_probs": expected_calibration_error(holdout["won"].to_numpy(float), true["p_won_true"].to_numpy()),
        "won_brier": m["won_brier"],
        "won_brier_uncalibrated": m["won_brier_uncalibrated"],
        "revenue_predicted_over_actual": m["revenue_predicted_over_actual"],
        "revenue_truth_over_actual": float(true["expected_revenue_true"].sum() / holdout["revenue"].sum()),
        "revenue_capture_top20": m["revenue_capture_top20"],
        "won_capture_top20": m["won_capture_top20"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    rows = [measure(args.n, seed, cal) for cal in ("sigmoid", "isotonic") for seed in range(args.seeds)]
    print(
        f"{'calib':9} {'seed':>4} {'wonAUC':>7} {'true':>7} {'ratio':>6} {'logreg':>7} {'accAUC':>7} "
        f"{'ECEwon':>7} {'ECEacc':>7} {'ECEraw':>7} {'rev p/a':>8} {'truth/a':>8} {'fit s':>6}"
    )
    for r in rows:
        print(
            f"{r['calibration']:9} {r['seed']:>4} {r['won_auc']:7.4f} {r['won_auc_true_probs']:7.4f} "
            f"{r['won_auc_ratio_to_truth']:6.3f} {r['won_auc_logreg']:7.4f} {r['accepted_auc']:7.4f} "
            f"{r['won_ece']:7.4f} {r['accepted_ece']:7.4f} {r['won_ece_uncalibrated']:7.4f} "
            f"{r['revenue_predicted_over_actual']:8.3f} {r['revenue_truth_over_actual']:8.3f} {r['fit_seconds']:6.1f}"
        )
    for cal in ("sigmoid", "isotonic"):
        mine = [r for r in rows if r["calibration"] == cal]
        worst_ratio = min(r["won_auc_ratio_to_truth"] for r in mine)
        worst_ece = max(max(r["won_ece"], r["accepted_ece"]) for r in mine)
        worst_rev = max(abs(r["revenue_predicted_over_actual"] - 1) for r in mine)
        print(
            f"{cal}: worst won-AUC/true {worst_ratio:.3f} (goal >= 0.98), worst ECE {worst_ece:.4f} (goal <= 0.02), "
            f"worst |revenue pred/actual - 1| {worst_rev:.3f} (goal <= 0.10)"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

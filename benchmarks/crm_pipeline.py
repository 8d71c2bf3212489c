"""Real data with open deals: Maven Analytics' CRM Sales Opportunities (8,800 B2B opportunities, 2016-2017,
public domain), the export issue #24 was found on.

Two measurements:
1. The whole file as a live pipeline: 8,300 engaged opportunities, of which 1,589 are still open (`Engaging`).
   The tool validates it, leaves the open deals out of training and is judged on its time holdout against
   one-hot logistic regression.
2. Calibration that holds next month: the file as it would have been exported at the engage date of its 80th
   percentile lead (deals closed after that moment were still open then; `close_date` is `decided_at`), and
   the model trained on that export judged on the later leads with their final outcomes, beside logistic
   regression fitted on all the export's decided leads.
Run: `python benchmarks/crm_pipeline.py`. Data, licence and the join: benchmarks/data/README.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from leadscore.features.config import LeadscoreConfig, parse_config_text

DATA = Path(__file__).parent / "data" / "crm"
RESULTS = Path(__file__).parent / "results" / "crm_pipeline.json"
EXPORT_SHARE = 0.8
CONFIG_TOML = """\
[data]
id = "opportunity_id"
created_at = "engage_date"
decided_at = "close_date"
account = "account"
won = "won"
revenue = "close_value"
exclude = ["deal_stage"]
"""


def load_crm(directory: Path = DATA) -> pd.DataFrame:
    """Engaged opportunities (those with an engage date) joined with their account, product and sales team;
    `won` is 1 (Won), 0 (Lost) or empty (Engaging: open). Account fields are empty where the deal has none."""
    pipeline = pd.read_csv(directory / "sales_pipeline.csv.gz")
    accounts = pd.read_csv(directory / "accounts.csv.gz").rename(columns={"revenue": "account_revenue"})
    products = pd.read_csv(directory / "products.csv.gz")
    teams = pd.read_csv(directory / "sales_teams.csv.gz")
    pipeline["product"] = pipeline["product"].replace({"GTXPro": "GTX Pro"})  # the product table's spelling
    leads = pipeline[pipeline["engage_date"].notna()].merge(accounts, on="account", how="left")
    leads = leads.merge(products, on="product", how="left").merge(teams, on="sales_agent", how="left")
    leads["won"] = leads["deal_stage"].map({"Won": 1.0, "Lost": 0.0})
    leads["close_value"] = leads["close_value"].where(leads["won"].notna())
    return leads.sort_values("engage_date", kind="stable").reset_index(drop=True)


def config() -> LeadscoreConfig:
    return parse_config_text(CONFIG_TOML, source="benchmarks/crm_pipeline.py")


def export_at(leads: pd.DataFrame, share: float = EXPORT_SHARE) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(the export taken at the engage date of the `share` quantile lead, the later decided leads, that date):
    in the export, deals closed after that date are open (outcome, value and close date empty)."""
    moment = leads["engage_date"].iloc[int(len(leads) * share)]
    history = leads[leads["engage_date"] <= moment].copy()
    later = leads[(leads["engage_date"] > moment) & leads["won"].notna()].copy()
    pending = history["close_date"].fillna("9999") > moment
    history.loc[pending, ["won", "close_value", "close_date"]] = np.nan
    return history, later, str(moment)


def _scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

    from leadscore.training.evaluate import expected_calibration_error

    return {"auc": round(float(roc_auc_score(y, p)), 4), "ece": round(expected_calibration_error(y, p), 4)}


def whole_file(leads: pd.DataFrame) -> dict[str, object]:
    """Train on the whole file: open leads left out, holdout metrics beside logistic regression."""
    from leadscore.training.fit import fit_and_evaluate

    fit = fit_and_evaluate(leads, config())
    m, report = fit.metrics, fit.report
    return {
        "leads": len(leads),
        "open": report.open_leads,
        "maturing": report.maturing_leads,
        "window_days": None if report.window is None or report.window.days is None else round(report.window.days),
        "decided": len(leads) - report.open_leads - report.maturing_leads,
        "tool": {"auc": round(m["won_roc_auc"], 4), "ece": round(m["won_ece"], 4)},
        "logreg": {"auc": round(m["baseline_logreg_won_roc_auc"], 4), "ece": round(m["baseline_logreg_won_ece"], 4)},
        "gate": "passed" if fit.quality.passed else "refused: " + "; ".join(fit.quality.failures),
        "calibration": fit.calibration.basis if fit.calibration else {},
        "notes": fit.notes,
    }


def next_period(leads: pd.DataFrame) -> dict[str, object]:
    """Train on the export at the cut-off; judge the registered model on the later leads' final outcomes."""
    from leadscore.training.evaluate import baseline_metrics
    from leadscore.training.fit import fit_and_evaluate

    history, later, moment = export_at(leads)
    fit = fit_and_evaluate(history, config())
    y = later["won"].to_numpy(int)
    tool = _scores(y, fit.scorer.predict(later)["p_won"].to_numpy())
    decided = history[history["won"].notna()]
    logreg = baseline_metrics(fit.scorer.transformer_, config().data, decided, later)
    return {
        "export_at": moment,
        "export_open": fit.report.open_leads,
        "export_maturing": fit.report.maturing_leads,
        "later_leads": len(later),
        "later_won_rate": round(float(y.mean()), 4),
        "tool": tool | {"mean_p_won": round(float(fit.scorer.predict(later)["p_won"].mean()), 4)},
        "logreg": {
            "auc": round(logreg["baseline_logreg_won_roc_auc"], 4),
            "ece": round(logreg["baseline_logreg_won_ece"], 4),
        },
        "ece_goal": round(max(0.03, logreg["baseline_logreg_won_ece"] + 0.01), 4),
        "calibration": fit.calibration.basis if fit.calibration else {},
    }


def main() -> None:
    leads = load_crm()
    result = {"whole_file": whole_file(leads), "next_period": next_period(leads)}
    print(json.dumps(result, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

"""`leadscore monitor`: is the champion still looking at the population it was trained on, and still calibrated?

Reads what the service records of this model (its name and version: `LoadedModel.key`) per scored lead (the
`scored_leads` table: model version, score,
p_accept and bin numbers per input column, never raw values) and the sales decisions in the feedback
store, and compares them with the training reference kept in the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from leadscore.models.drift import DRIFT, psi_status
from leadscore.models.registry import LoadedModel
from leadscore.records.tables import count_unscored_feedback, read_latest_decisions, read_traffic

MIN_DECISIONS = 100
"""Fewer sales decisions than this say too little about calibration to recommend a retrain on."""


@dataclass
class MonitorReport:
    """PSI per column and for the score, calibration by score decile, and whether to retrain."""

    model_version: str | None
    rows: int
    psi: dict[str, float]
    calibration: pd.DataFrame
    ece: float | None
    recommend_retrain: bool
    reasons: list[str] = field(default_factory=list)
    unscored_feedback: int = 0
    """Sales decisions the service stored for leads it had not scored (the CRM may score elsewhere)."""
    calibration_note: str | None = None
    """Why live calibration was not measured (a model without an acceptance head predicts no p_accept)."""

    @property
    def status(self) -> dict[str, str]:
        """stable / watch / drift per column and for the score."""
        return {name: psi_status(value) for name, value in self.psi.items()}


def calibration_by_decile(traffic: pd.DataFrame, decisions: pd.DataFrame) -> pd.DataFrame:
    """Predicted vs observed acceptance by score decile, for scored leads that have a sales decision since."""
    latest = traffic.sort_values("scored_at").groupby("lead_id").tail(1)
    joined = latest.merge(decisions[["lead_id", "decision"]], on="lead_id", how="inner")
    if joined.empty:
        return pd.DataFrame(columns=["decile", "leads", "predicted", "observed"])
    joined["observed"] = (joined["decision"] == "accept").astype(float)
    joined["decile"] = np.minimum(joined["score"].astype(int) // 10, 9)
    table = joined.groupby("decile").agg(
        leads=("observed", "size"), predicted=("p_accept", "mean"), observed=("observed", "mean")
    )
    return table.reset_index()


def monitor(
    model: LoadedModel,
    store_url: str,
    feedback_url: str,
    since: datetime | None = None,
    psi_threshold: float = DRIFT,
    ece_threshold: float = 0.05,
) -> MonitorReport:
    """PSI of recent traffic against the model's training reference, calibration against sales decisions."""
    name, version = model.key
    traffic = read_traffic(store_url, since, name, version)
    reference = model.scorer.drift_reference_
    reasons: list[str] = []
    psi: dict[str, float] = {}
    if len(traffic):
        bins = np.array([[int(b) for b in row.split(",")] for row in traffic["bins"]], dtype=int)
        psi = reference.psi(bins, traffic["score"].to_numpy(float))
        drifted = [name for name, value in psi.items() if value > psi_threshold]
        if drifted:
            reasons.append(f"population drift (PSI > {psi_threshold}) in: {', '.join(drifted)}")
    decisions = read_latest_decisions(feedback_url, name)
    accepts = "accepted" in model.scorer.heads_  # sales decisions judge p_accept; without it there is nothing to judge
    measured = accepts and len(traffic) and len(decisions)
    calibration = calibration_by_decile(traffic, decisions) if measured else pd.DataFrame()
    note = None if accepts else (
        f"{model.label} has no acceptance head (no [data].accepted): live calibration against "
        "sales decisions is not measured"
    )
    ece = None
    if not calibration.empty:
        weights = calibration["leads"].to_numpy(float)
        ece = float(np.sum(weights * np.abs(calibration["observed"] - calibration["predicted"])) / weights.sum())
        decided = int(calibration["leads"].sum())
        if ece > ece_threshold and decided >= MIN_DECISIONS:
            reasons.append(f"acceptance calibration error {ece:.3f} > {ece_threshold} over {decided} decided leads")
    return MonitorReport(
        version,
        len(traffic),
        psi,
        calibration,
        ece,
        bool(reasons),
        reasons,
        count_unscored_feedback(feedback_url, name),
        note,
    )


def log_monitor_run(report: MonitorReport, out_dir: Path, tracking_uri: str | None = None) -> None:
    """Record the report as an MLflow run with a reliability plot, in the monitoring experiment (not among the
    training runs) of `tracking_uri` (default: the configured store)."""
    import mlflow

    from leadscore.training.plots import reliability_table_plot
    from leadscore.training.tracking import MONITORING_EXPERIMENT, configure

    configure(tracking_uri, MONITORING_EXPERIMENT)
    with mlflow.start_run(run_name=f"monitor {report.model_version}"):
        mlflow.set_tags(
            {
                "kind": "monitor",
                "model_version": str(report.model_version),
                "recommend_retrain": str(report.recommend_retrain),
            }
        )
        mlflow.log_metrics({f"psi_{k}": v for k, v in report.psi.items()} | {"traffic_rows": report.rows})
        if report.ece is not None:
            mlflow.log_metric("acceptance_ece_live", report.ece)
        if not report.calibration.empty:
            mlflow.log_artifact(str(reliability_table_plot(report.calibration, out_dir / "live_reliability.png")))
        mlflow.log_dict({"reasons": report.reasons, "status": report.status}, "monitor.json")

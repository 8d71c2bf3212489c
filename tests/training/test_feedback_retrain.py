"""Sales feedback becomes labels: the join rule, and a retrain that moves toward what sales said."""

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from leadscore.datasets.synthetic import CONFIG_TOML
from leadscore.features.config import LeadscoreConfig
from leadscore.records.database import Database
from leadscore.records.feedback import FeedbackStore
from leadscore.records.tables import read_latest_decisions
from leadscore.training.feedback import apply_feedback
from leadscore.training.pipeline import train


def _post(store: FeedbackStore, event: str, lead: str, decision: str, reason: str | None = "no_budget") -> None:
    store.record(
        dict(event_id=event, lead_id=lead, decision=decision, reason_code=reason, rep_id="rep-1"), "1"
    )


def test_latest_decision_wins_and_duplicates_count_once(tmp_path: Path) -> None:
    store = FeedbackStore(Database(f"sqlite:///{tmp_path / 'fb.db'}", "m"))
    for _ in range(3):
        _post(store, "e1", "L1", "accept")
    _post(store, "e2", "L1", "reject")
    _post(store, "e3", "L2", "reject")
    decisions = read_latest_decisions(f"sqlite:///{tmp_path / 'fb.db'}", "m")
    assert len(decisions) == 2
    assert dict(zip(decisions["lead_id"], decisions["decision"], strict=True)) == {"L1": "reject", "L2": "reject"}


def test_empty_store_reads_empty(tmp_path: Path) -> None:
    FeedbackStore(Database(f"sqlite:///{tmp_path / 'fb.db'}", "m"))
    assert read_latest_decisions(f"sqlite:///{tmp_path / 'fb.db'}", "m").empty


def test_join_rule_counts(leads: pd.DataFrame, demo_config: LeadscoreConfig) -> None:
    rows = leads.head(200).copy()
    won_id = rows.loc[rows["won"] == 1, "lead_id"].iloc[0]
    accepted_lost = rows.loc[(rows["accepted"] == 1) & (rows["won"] == 0), "lead_id"].iloc[0]
    rejected = rows.loc[rows["accepted"] == 0, "lead_id"].iloc[:2].tolist()
    open_id = rows["lead_id"].iloc[-1]
    rows.loc[rows["lead_id"] == open_id, ["accepted", "won", "revenue"]] = np.nan
    decisions = pd.DataFrame(
        {
            "lead_id": [won_id, accepted_lost, rejected[0], rejected[1], open_id],
            "decision": ["reject", "reject", "reject", "accept", "reject"],
            "reason_code": ["no_budget"] * 5,
            "received_at": pd.Timestamp("2026-01-01", tz="UTC"),
        }
    )
    joined = apply_feedback(rows, decisions, demo_config.data)
    c = joined.counts
    assert c["feedback_conflicts_kept_crm_win"] == 1
    assert c["feedback_overrode_crm"] == 2  # accepted_lost -> 0, rejected[1] -> 1
    assert c["feedback_agreed_with_crm"] == 1
    assert c["feedback_new_labels"] == 1  # the open lead, rejected -> won 0, revenue 0
    assert c["open_leads_left_out"] == 0
    out = joined.frame.set_index("lead_id")
    assert out.loc[won_id, "accepted"] == 1 and out.loc[won_id, "won"] == 1
    assert out.loc[accepted_lost, "accepted"] == 0
    assert out.loc[rejected[1], "accepted"] == 1
    assert out.loc[open_id, ["accepted", "won", "revenue"]].tolist() == [0, 0, 0]


@pytest.mark.slow
def test_retrain_moves_toward_feedback(tmp_path: Path, funnel: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    leads = funnel[0]
    leads.to_csv(tmp_path / "leads.csv", index=False)
    (tmp_path / "leadscore.toml").write_text(CONFIG_TOML)
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    first = train(tmp_path / "leads.csv", tmp_path / "leadscore.toml", tracking, "fb-test")
    segment = leads[(leads["country"] == "BR") & (leads["won"] == 0)]
    url = f"sqlite:///{tmp_path / 'feedback.db'}"
    store = FeedbackStore(Database(url, "fb-test"))
    for i, lead_id in enumerate(segment["lead_id"]):
        _post(store, f"ev-{i}", lead_id, "reject", "wrong_fit")
    _post(store, "ev-0", segment["lead_id"].iloc[0], "reject", "wrong_fit")  # a retried event
    other = FeedbackStore(Database(url, "another-model"))  # sharing the database: never joined
    for i, lead_id in enumerate(leads["lead_id"].iloc[:200]):
        _post(other, f"ev-{i}", lead_id, "accept")
    second = train(tmp_path / "leads.csv", tmp_path / "leadscore.toml", tracking, "fb-test", feedback_url=url)
    assert second.feedback["feedback_decisions"] == len(segment)
    run = mlflow.MlflowClient(tracking).get_run(second.run_id)
    assert run.data.metrics["labels_from_feedback"] == second.feedback["feedback_overrode_crm"] > 0
    probe = leads[leads["country"] == "BR"].head(300)
    before = first.fit.scorer.predict(probe)["p_accept"].mean()
    after = second.fit.scorer.predict(probe)["p_accept"].mean()
    assert after < before * 0.7, (before, after)
    reasons = second.rejection_reasons
    assert set(reasons["by"]) == {"grade", "campaign"} and (reasons["top_reason"] == "wrong_fit").all()
    d = second.decision
    if d.champion_metric is None:  # the champion was refit on all of this file, the holdout included
        assert d.alias == "champion" and "too few are left for a fair comparison" in d.reason
    elif d.alias == "champion":
        assert d.challenger_metric >= d.champion_metric - 0.005
    else:
        assert d.challenger_metric < d.champion_metric - 0.005


def test_unreadable_store_is_clear(tmp_path: Path) -> None:
    from leadscore.records.tables import StoreReadError

    with pytest.raises(StoreReadError, match="cannot read feedback"):
        read_latest_decisions(f"sqlite:///{tmp_path / 'missing' / 'nope.db'}", "m")


def test_cli_retrain_unreadable_store_exits_2(tmp_path: Path, funnel: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    from typer.testing import CliRunner

    from leadscore.cli.main import app

    funnel[0].head(50).to_csv(tmp_path / "leads.csv", index=False)
    (tmp_path / "leadscore.toml").write_text(CONFIG_TOML)
    result = CliRunner().invoke(
        app,
        [
            "retrain",
            "--data",
            str(tmp_path / "leads.csv"),
            "--config",
            str(tmp_path / "leadscore.toml"),
            "--feedback-db",
            f"sqlite:///{tmp_path / 'no' / 'fb.db'}",
            "--tracking-uri",
            f"sqlite:///{tmp_path / 'm.db'}",
        ],
    )
    assert result.exit_code == 2 and "cannot read feedback" in result.output and "Traceback" not in result.output

"""A live pipeline: a CRM export with open deals (empty won and revenue) trains, scores, reports and audits
end to end, and every command counts its open leads apart: never as lost, never as zero revenue."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from open_funnels import CRM_TOML, crm_pipeline
from typer.testing import CliRunner

from leadscore.cli.main import app

runner = CliRunner()


def _flat(output: str) -> str:
    return " ".join(output.split())  # rich wraps lines to the terminal


@pytest.fixture(scope="module")
def pipeline() -> pd.DataFrame:
    return crm_pipeline()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, pipeline: pd.DataFrame) -> Path:
    """The export and its config."""
    root = tmp_path_factory.mktemp("open-leads")
    pipeline.to_csv(root / "leads.csv", index=False)
    (root / "leadscore.toml").write_text(CRM_TOML)
    return root


@pytest.fixture(scope="module")
def workdir(exported: Path) -> Path:
    """The export, its config and a tracking store with one model trained on it through the CLI."""
    root = exported
    store = f"sqlite:///{root / 'mlflow.db'}"
    result = runner.invoke(app, [*_args(root, "train"), "--tracking-uri", store])
    assert result.exit_code == 0, result.output
    (root / "train.txt").write_text(result.output)
    return root


def _args(root: Path, *command: str) -> list[str]:
    return [*command, "--data", str(root / "leads.csv"), "--config", str(root / "leadscore.toml")]


def _store(root: Path) -> list[str]:
    return ["--tracking-uri", f"sqlite:///{root / 'mlflow.db'}"]


def test_validate_counts_open_leads_per_outcome(exported: Path, pipeline: pd.DataFrame) -> None:
    result = runner.invoke(app, _args(exported, "validate"))
    assert result.exit_code == 0, result.output
    n_open = int(pipeline["won"].isna().sum())
    assert f"open leads (no outcome yet): {n_open:,}" in _flat(result.output)
    assert f"won {n_open:,}, revenue {n_open:,}" in _flat(result.output)


def test_train_learns_from_decided_leads_only(workdir: Path, pipeline: pd.DataFrame) -> None:
    text = _flat((workdir / "train.txt").read_text())
    n_open = int(pipeline["won"].isna().sum())
    assert f"{n_open:,} open leads left out of training" in text
    assert f"all {len(pipeline) - n_open} leads" in text


def test_score_counts_open_leads_apart(workdir: Path, pipeline: pd.DataFrame, tmp_path: Path) -> None:
    result = runner.invoke(app, [*_args(workdir, "score"), "--out", str(tmp_path / "s.csv"), *_store(workdir)])
    assert result.exit_code == 0, result.output
    n_open = int(pipeline["won"].isna().sum())
    assert f"{n_open:,} of them open (no outcome yet), {len(pipeline) - n_open:,} already decided" in _flat(
        result.output
    )


def test_report_campaigns_and_plan_rate_decided_leads(workdir: Path, pipeline: pd.DataFrame, tmp_path: Path) -> None:
    args = [*_args(workdir, "report", "campaigns"), "--out", str(tmp_path / "r"), *_store(workdir)]
    report = runner.invoke(app, args)
    assert report.exit_code == 0, report.output
    campaigns = pd.read_csv(tmp_path / "r" / "campaigns.csv")
    assert campaigns["open_leads"].sum() == pipeline["won"].isna().sum()
    plan = runner.invoke(app, [*_args(workdir, "plan"), "--revenue-target", "1M", "--json", *_store(workdir)])
    assert plan.exit_code == 0, plan.output
    body = json.loads(plan.output[plan.output.index("{") :])
    decided = pipeline[pipeline["won"].notna()].groupby("campaign")["revenue"].mean()
    planned = {row["campaign"]: row["raw_revenue_per_lead"] for row in body["campaigns"]}
    assert planned == pytest.approx(decided.to_dict())


@pytest.mark.parametrize("suggest", [False, True])
def test_qualification_check_never_counts_open_leads_as_zero_revenue(
    exported: Path, pipeline: pd.DataFrame, suggest: bool, request: pytest.FixtureRequest
) -> None:
    args = [*_args(exported, "qualification", "check"), "--json"]
    if suggest:  # --suggest needs the model
        args += ["--suggest", *_store(request.getfixturevalue("workdir"))]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    body = json.loads(result.output[result.output.index("{") :])
    decided = pipeline[pipeline["won"].notna()]
    everyone = body["funnel"][0]
    assert body["open_leads"] == len(pipeline) - len(decided) == everyone["open_leads"]
    assert everyone["leads"] == len(pipeline)
    assert everyone["revenue_per_lead"] == pytest.approx(decided["revenue"].sum() / len(decided))
    assert everyone["win_rate"] == pytest.approx(decided["won"].mean())
    if suggest:
        options = body["suggestion"]["options"]
        assert all(0 < option["wins_kept"] <= 1 for option in options)


def test_report_accounts_says_how_many_leads_had_no_account(
    workdir: Path, pipeline: pd.DataFrame, tmp_path: Path
) -> None:
    out = tmp_path / "accounts.csv"
    result = runner.invoke(app, [*_args(workdir, "report", "accounts"), "--out", str(out), *_store(workdir)])
    assert result.exit_code == 0, result.output
    missing = pipeline["account"].isna()
    pending = pipeline["won"].isna()
    text = _flat(result.output)
    assert f"{int(missing.sum()):,} leads had no account ({int((missing & pending).sum()):,} of them open)" in text
    table = pd.read_csv(out)
    assert table["people"].sum() == int((~missing).sum())
    assert table["open_people"].sum() == int((~missing & pending).sum())
    assert np.all(table["open_people"] <= table["people"])

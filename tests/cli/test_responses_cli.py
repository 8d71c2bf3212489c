"""The commands with a model that reads responses: credit in `report campaigns` and `plan`, `report accounts`,
and `score`, which needs the events."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from leadscore.cli.main import app
from leadscore.datasets.synthetic import JOURNEY_CONFIG_TOML, Journeys
from leadscore.marketing.attribution import RULES
from leadscore.models.artifact import save_scorer
from leadscore.training.fit import FitResult

runner = CliRunner()


@pytest.fixture(scope="module")
def files(
    tmp_path_factory: pytest.TempPathFactory, journeys: Journeys, journey_fit: tuple[FitResult, pd.DataFrame]
) -> Path:
    root = tmp_path_factory.mktemp("journeys-cli")
    save_scorer(journey_fit[0].scorer, root / "model")
    journeys.leads.tail(1500).to_csv(root / "leads.csv", index=False)
    journeys.responses.to_csv(root / "responses.csv", index=False)
    (root / "leadscore.toml").write_text(JOURNEY_CONFIG_TOML)
    return root


def _args(files: Path, *command: str) -> list[str]:
    return [*command, "--data", str(files / "leads.csv"), "--model", str(files / "model")]


def test_report_campaigns_and_plan_show_every_rule(
    files: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    config = ["--config", str(files / "leadscore.toml")]
    result = runner.invoke(app, [*_args(files, "report", "campaigns"), *config, "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # rich wraps titles and captions to the terminal
    assert "Wins credited to every campaign" in text and "first-touch credit" in text
    credit = pd.read_csv(tmp_path / "r" / "campaign_attribution.csv", index_col=0)
    for rule in RULES:
        assert credit[f"won_leads__{rule}"].sum() == pytest.approx(credit["won_leads__first_touch"].sum())
    assert "Multi-touch campaign credit" in (tmp_path / "r" / "report.html").read_text()
    plan = runner.invoke(app, [*_args(files, "plan"), *config, "--revenue-target", "1M", "--json"])
    assert plan.exit_code == 0, plan.output
    body = json.loads(plan.output[plan.output.index("{") :])
    assert set(body["attribution"]["rules"]) == set(RULES)
    assert body["attribution"]["totals"]["won_leads"] > 0


def test_report_accounts_writes_every_account(files: Path, tmp_path: Path) -> None:
    out = tmp_path / "accounts.csv"
    args = [*_args(files, "report", "accounts"), "--config", str(files / "leadscore.toml"), "--out", str(out)]
    result = runner.invoke(app, [*args, "--as-of", "2026-07-01"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    leads = pd.read_csv(files / "leads.csv")
    assert table["people"].sum() == len(leads) and set(table["account"]) == set(leads["account"])
    assert "P(≥1 win)" in result.output
    bad = runner.invoke(app, [*args, "--as-of", "someday"])
    assert bad.exit_code == 2 and "--as-of" in bad.output


def test_score_needs_the_events_of_a_model_that_reads_them(files: Path, tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    bare = runner.invoke(
        app, ["score", "--data", str(files / "leads.csv"), "--model", str(files / "model"), "--out", str(out)]
    )
    assert bare.exit_code == 2 and "[responses]" in bare.output
    args = ["score", "--data", str(files / "leads.csv"), "--model", str(files / "model"), "--out", str(out)]
    result = runner.invoke(app, [*args, "--config", str(files / "leadscore.toml"), "--as-of", "2026-07-01"])
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out)) == 1500


def test_validate_warns_when_most_responses_come_after_the_assumed_decision_window(files: Path) -> None:
    # The file holds 1,500 of the leads; on so few, campaign alone predicts acceptance about as well as all
    # the other columns together, which validate's leak check (as train's) flags unless it is allowed.
    small = '\n[training]\nmin_rows = 100\nmin_positives = 10\nallow_leaky = ["campaign"]\n'
    config, short = files / "small.toml", files / "short_window.toml"
    config.write_text(JOURNEY_CONFIG_TOML + small)
    short.write_text(config.read_text().replace("decision_window_days = 14", "decision_window_days = 1"))
    assert short.read_text() != config.read_text()
    for toml, warned in ((config, False), (short, True)):
        result = runner.invoke(app, ["validate", "--data", str(files / "leads.csv"), "--config", str(toml)])
        assert result.exit_code == 0, result.output
        assert ("come at or after created_at + decision_window_days (1 days" in result.output) is warned

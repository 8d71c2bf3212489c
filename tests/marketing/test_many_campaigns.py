"""Reports that read at scale (issue #29): with 500 campaigns the console tables, the HTML report and the
charts show the top campaigns plus one "other (N campaigns)" row, the CSV keeps every campaign, and the
plan's campaign rows add up to its totals."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from rich.console import Console
from typer.testing import CliRunner

from leadscore.cli.marketing import _plan_table, register
from leadscore.features.config import ColumnLabel, LeadscoreConfig
from leadscore.marketing.folding import TOP_CAMPAIGNS, fold_groups, fold_rows, other_label
from leadscore.marketing.history import ScoredLeads, score_leads
from leadscore.marketing.planner import plan_quota
from leadscore.marketing.report import build_report, report_charts, write_report
from leadscore.models.artifact import save_scorer
from leadscore.training.fit import FitResult

CAMPAIGNS = 500


@pytest.fixture(scope="module")
def history(funnel: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    """The demo funnel spread over 500 landing-page campaigns of uneven size."""
    frame = funnel[0].copy()
    rng = np.random.default_rng(3)
    sizes = rng.zipf(1.6, CAMPAIGNS).astype(float)
    frame["campaign"] = np.resize([f"landing page {i:03d}" for i in range(CAMPAIGNS)], len(frame))
    weights = sizes / sizes.sum()
    frame.loc[frame.index[:5000], "campaign"] = rng.choice(frame["campaign"].unique(), 5000, p=weights)
    return frame


@pytest.fixture(scope="module")
def scored(fitted: FitResult, history: pd.DataFrame, demo_config: LeadscoreConfig) -> ScoredLeads:
    return score_leads(fitted.scorer, history, demo_config.data)


def test_report_folds_beyond_the_top_campaigns_and_the_csv_keeps_all(
    scored: ScoredLeads, history: pd.DataFrame, demo_config: LeadscoreConfig, tmp_path: Path
) -> None:
    labels = {column: ColumnLabel(label=f"Label of {column}") for column in scored.contributions.columns}
    report = build_report(scored, history, demo_config.data, min_leads=10, labels=labels)
    assert len(report.campaigns) == CAMPAIGNS
    assert len(report.shown) == TOP_CAMPAIGNS + 1 and other_label(CAMPAIGNS - TOP_CAMPAIGNS) in report.shown.index
    assert report.shown["leads"].sum() == len(history)
    counts = history["campaign"].value_counts()
    named = counts.index.isin(report.shown.index)
    assert named.sum() == TOP_CAMPAIGNS and counts[named].min() >= counts[~named].max()  # the biggest by leads
    for png in report_charts(report).values():  # about 21 bars, not 500
        assert Image.open(io.BytesIO(png)).size[1] < 1_500
    paths = write_report(report, tmp_path, "leads.csv", "model")
    assert len(pd.read_csv(tmp_path / "campaigns.csv")) == CAMPAIGNS
    html = paths[0].read_text()
    assert html.count("landing page") < 6 * (TOP_CAMPAIGNS + 1) and "other (480 campaigns)" in html
    headers = re.findall(r"<th>([^<]*)</th>", html.split("What drives scores")[1].split("</tr>")[0])
    assert headers and all(h.startswith("Label of ") for h in headers)  # [labels], not column names
    drivers = pd.read_csv(tmp_path / "campaign_drivers.csv")
    assert len(drivers) == CAMPAIGNS


def test_plan_rows_add_up_to_its_totals_and_print_folded(scored: ScoredLeads, history: pd.DataFrame) -> None:
    plan = plan_quota(scored, history["campaign"], 2_000_000, n_sims=200)
    rows = plan.campaigns
    assert len(rows) == CAMPAIGNS
    assert rows["leads"].sum() == plan.leads.estimate
    assert rows["wins"].sum() == plan.wins.estimate
    assert plan.accepted is not None and rows["accepted"].sum() == plan.accepted.estimate
    assert rows["leads_lo"].sum() == plan.leads.lo
    assert (rows[["leads", "accepted", "wins"]] >= 0).all().all()
    console = Console(record=True, width=160, file=io.StringIO())
    console.print(_plan_table(plan))
    text = console.export_text()
    assert other_label(CAMPAIGNS - TOP_CAMPAIGNS) in text
    assert len(text.splitlines()) < TOP_CAMPAIGNS + 20
    total = next(line for line in text.splitlines() if line.strip("│ ").startswith("total"))
    assert f"{plan.leads.estimate:,.0f}" in total


def test_report_cli_prints_a_readable_table(
    fitted: FitResult, history: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import typer

    from leadscore.datasets.synthetic import CONFIG_TOML

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    save_scorer(fitted.scorer, tmp_path / "model")
    history.tail(3000).to_csv(tmp_path / "leads.csv", index=False)
    (tmp_path / "leadscore.toml").write_text(CONFIG_TOML)
    app = typer.Typer()
    register(app)
    args = ["report", "campaigns", "--data", str(tmp_path / "leads.csv"), "--config", str(tmp_path / "leadscore.toml")]
    args += ["--model", str(tmp_path / "model"), "--out", str(tmp_path / "report"), "--min-leads", "10"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert re.search(r"other \(4\d\d campaigns\)", result.output)
    assert len(result.output.splitlines()) < 3 * TOP_CAMPAIGNS + 30


def test_folding_keeps_the_biggest_by_name_on_ties_and_never_folds_one_campaign() -> None:
    names = pd.Series(["b", "a", "c", "c", "d"])
    assert fold_groups(names, top=2).tolist() == ["other (2 campaigns)", "a", "c", "c", "other (2 campaigns)"]
    assert fold_groups(names, top=3).equals(names)  # "other (1 campaign)" would only hide a name
    table = pd.DataFrame({"leads": [5.0, 1.0, 2.0, np.nan]}, index=["w", "x", "y", "z"])
    folded = fold_rows(table, table["leads"].fillna(0), top=2)
    assert folded.index.tolist() == ["w", "y", "other (2 campaigns)"]
    assert folded.loc["other (2 campaigns)", "leads"] == 1  # summed, a missing value skipped

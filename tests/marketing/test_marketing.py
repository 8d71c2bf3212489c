"""Marketing by the numbers: campaign report, quota planner and capacity routing on data of known quality."""

import json
import math
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from leadscore.cli.marketing import _report_table, register
from leadscore.datasets.files import DataFileError
from leadscore.datasets.synthetic import CONFIG_TOML
from leadscore.features.config import LeadscoreConfig, parse_config_text
from leadscore.features.validation import DataValidationError
from leadscore.marketing.history import ScoredLeads, load_spend, score_leads
from leadscore.marketing.insights import (
    TOO_FEW,
    bootstrap_mean_interval,
    campaign_summary,
    outcome_frame,
    summary_records,
    wilson_interval,
)
from leadscore.marketing.planner import PlanError, parse_amount, parse_mix, plan_quota
from leadscore.marketing.report import CampaignReport, basis_text, build_report
from leadscore.marketing.routing import route_leads
from leadscore.models.artifact import save_scorer
from leadscore.training.fit import FitResult

OPEN = 600
"""The most recent leads get their outcomes blanked: they are the open pipeline."""
OUTCOMES = ["accepted", "won", "revenue"]
GOOD, BAD = "partner_referral_q", "content_syndication_ebook"
CHANNEL_TOML = CONFIG_TOML  # the demo config names the channel column

runner = CliRunner()


@pytest.fixture(scope="module")
def history(funnel: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    """Leads with an owner column; the latest OPEN have no outcome yet."""
    frame = funnel[0].copy()
    frame[OUTCOMES] = frame[OUTCOMES].astype(float)
    frame.loc[frame.index[-OPEN:], OUTCOMES] = np.nan
    frame["owner"] = np.resize(np.array(["ana", "ben", "cho"]), len(frame))
    return frame


@pytest.fixture(scope="module")
def scored(fitted: FitResult, history: pd.DataFrame, demo_config: LeadscoreConfig) -> ScoredLeads:
    return score_leads(fitted.scorer, history, demo_config.data)


@pytest.fixture(scope="module")
def report(scored: ScoredLeads, history: pd.DataFrame) -> CampaignReport:
    return build_report(scored, history, parse_config_text(CHANNEL_TOML).data)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, fitted: FitResult, history: pd.DataFrame) -> Path:
    """A work directory with the model, the latest 4000 leads and a config that also names the channel."""
    root = tmp_path_factory.mktemp("marketing")
    save_scorer(fitted.scorer, root / "model")
    history.tail(4000).to_csv(root / "leads.csv", index=False)
    (root / "leadscore.toml").write_text(CHANNEL_TOML)
    return root


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    """The marketing commands on their own app, with no MLflow store unless a test names one."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    app = typer.Typer()
    register(app)
    return app


def _width(summary: pd.DataFrame, name: str, metric: str) -> float:
    return float(summary.loc[name, f"{metric}_hi"] - summary.loc[name, f"{metric}_lo"])


# ------------------------------------------------------------------ intervals and outcomes
def test_wilson_matches_closed_form_and_narrows_with_n() -> None:
    lo, hi = wilson_interval(np.array([0, 5, 50]), np.array([10, 10, 100]), 0.95)
    assert lo[0] == pytest.approx(0, abs=1e-12) and hi[0] == pytest.approx(1.96**2 / (10 + 1.96**2), rel=1e-3)
    assert lo[1] + hi[1] == pytest.approx(1.0)
    assert hi[2] - lo[2] < hi[1] - lo[1]
    assert np.isnan(wilson_interval(np.array([0]), np.array([0]), 0.9)[0][0])


def test_fast_bootstrap_agrees_with_resampling_every_lead() -> None:
    rng = np.random.default_rng(3)
    values = np.zeros(400)
    values[:30] = rng.lognormal(9, 1, size=30)
    fast = bootstrap_mean_interval(values, 0.9, 4000, np.random.default_rng(0))
    naive = np.quantile(rng.choice(values, size=(4000, len(values))).mean(axis=1), [0.05, 0.95])
    assert fast[0] < values.mean() < fast[1]
    assert fast == pytest.approx(tuple(naive), rel=0.1)


def test_outcome_frame_marks_open_leads_and_derives_won(history: pd.DataFrame, demo_config: LeadscoreConfig) -> None:
    outcomes = outcome_frame(history, demo_config.data)
    assert outcomes["won"].isna().sum() == OPEN
    no_won = parse_config_text(CONFIG_TOML.replace('won = "won"\n', "")).data
    derived = outcome_frame(history, no_won)
    pd.testing.assert_series_equal(derived["won"], outcomes["won"])
    new_leads = outcome_frame(history.drop(columns=OUTCOMES), demo_config.data)
    assert new_leads.isna().all().all()


def test_unreadable_outcome_names_column_and_lead_not_value(leads: pd.DataFrame, demo_config: LeadscoreConfig) -> None:
    leads["accepted"] = leads["accepted"].astype(str)
    leads.loc[leads.index[4], "accepted"] = "maybe-secret"
    with pytest.raises(DataValidationError) as err:
        outcome_frame(leads, demo_config.data)
    text = str(err.value)
    assert "'accepted'" in text and leads.loc[leads.index[4], "lead_id"] in text and "maybe-secret" not in text


# ------------------------------------------------------------------ campaign report
def test_report_ranks_known_good_campaign_above_known_bad(
    report: CampaignReport, funnel: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    campaigns = report.campaigns
    assert campaigns.loc[GOOD, "rank"] < campaigns.loc[BAD, "rank"]
    assert campaigns.loc[GOOD, "verdict"] == "keep" and campaigns.loc[BAD, "verdict"] != "keep"
    truth = funnel[1]["expected_revenue_true"].groupby(funnel[0]["campaign"]).mean()
    ranked = campaigns[campaigns["rank"].notna()]
    assert ranked["revenue_per_lead"].corr(truth.loc[ranked.index], method="spearman") > 0.8
    assert ranked["revenue_per_lead_lo"].is_monotonic_decreasing


def test_report_counts_pipeline_and_closed_rates(
    report: CampaignReport, scored: ScoredLeads, history: pd.DataFrame
) -> None:
    campaigns = report.campaigns
    open_ = history["won"].isna()
    pipeline = scored.scores.loc[open_, "expected_revenue"].groupby(history.loc[open_, "campaign"]).sum()
    pd.testing.assert_series_equal(
        campaigns["predicted_pipeline"].loc[pipeline.index], pipeline, check_names=False, rtol=1e-9
    )
    assert campaigns["open_leads"].sum() == OPEN and campaigns["leads"].sum() == len(history)
    accept = history.loc[~open_, "accepted"].groupby(history.loc[~open_, "campaign"]).mean()
    assert campaigns.loc[GOOD, "accept_rate"] == pytest.approx(accept[GOOD])
    assert (
        (campaigns["accept_rate_lo"] <= campaigns["accept_rate"])
        & (campaigns["accept_rate"] <= campaigns["accept_rate_hi"])
    ).all()
    grades = campaigns[[f"share_{g}" for g in "ABCD"]].sum(axis=1)
    assert np.allclose(grades, 1.0)
    assert campaigns.loc[GOOD, "share_A"] > campaigns.loc[BAD, "share_A"]


def test_intervals_widen_and_small_campaigns_are_flagged_not_ranked(
    report: CampaignReport, scored: ScoredLeads, history: pd.DataFrame
) -> None:
    name = "webinar_data_leaders"
    in_campaign = history["campaign"] == name
    sample = np.random.default_rng(0).choice(history.index[in_campaign], 60, replace=False)
    keep = ~in_campaign | history.index.isin(sample)
    small = campaign_summary(scored.scores[keep], history.loc[keep, "campaign"], scored.outcomes[keep], min_leads=100)
    full = report.campaigns
    for metric in ("accept_rate", "won_rate"):
        assert _width(small, name, metric) > _width(full, name, metric)
    # Revenue is heavy-tailed: a small sample that missed the big deals has a small mean, so compare the
    # interval relative to its estimate.
    relative = [_width(t, name, "revenue_per_lead") / t.loc[name, "revenue_per_lead"] for t in (small, full)]
    assert relative[0] > relative[1]
    assert small.loc[name, "small_sample"] and pd.isna(small.loc[name, "rank"])
    assert small.loc[name, "verdict"] == TOO_FEW
    flagged = small["small_sample"].to_numpy()
    assert not flagged[: (~flagged).sum()].any(), "flagged campaigns are listed after every ranked one"


def test_spend_gives_cost_per_accepted_roi_and_break_even(scored: ScoredLeads, history: pd.DataFrame) -> None:
    spend = {GOOD: 10_000.0, BAD: 1e9, "not_in_data": 5.0}
    no_channel = parse_config_text(CONFIG_TOML.replace('channel = "channel"\n', "")).data
    result = build_report(scored, history, no_channel, spend=spend)
    c = result.campaigns
    assert c.loc[GOOD, "cost_per_accepted"] == pytest.approx(10_000 / c.loc[GOOD, "accepted_leads"])
    assert c.loc[GOOD, "roi"] == pytest.approx(c.loc[GOOD, "closed_revenue"] / 10_000 - 1)
    assert c.loc[BAD, "benchmark"] == pytest.approx(1e9 / c.loc[BAD, "leads"]) and c.loc[BAD, "verdict"] == "cut"
    assert result.unknown_spend == ("not_in_data",)
    assert result.channels is None


def test_mean_shap_per_column_shows_campaign_effect_and_drivers(report: CampaignReport) -> None:
    drivers = report.drivers
    assert drivers is not None and list(drivers.index) == list(report.campaigns.index)
    assert drivers.loc[GOOD, "campaign"] > 0 > drivers.loc[BAD, "campaign"]
    for top in report.campaigns["top_drivers"]:
        named = [c for c in top.split(", ") if c]
        assert named and set(named) <= set(drivers.columns) and not {"campaign", "channel"} & set(named)


def test_channel_summary_and_json_records(report: CampaignReport, history: pd.DataFrame) -> None:
    assert report.channels is not None and set(report.channels.index) == set(history["channel"])
    records = summary_records(report.campaigns)
    assert json.loads(json.dumps(records)) == records
    assert {r["campaign"] for r in records} == set(history["campaign"])
    assert all(isinstance(r["small_sample"], bool) for r in records)


def test_cost_table_errors_name_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "costs.csv"
    path.write_text("campaign,spend\na,100\nb,lots\n")
    with pytest.raises(DataFileError, match="line 3"):
        load_spend(path)
    path.write_text("campaign,spend\na,100\na,5\n")
    with pytest.raises(DataFileError, match="twice"):
        load_spend(path)
    path.write_text("campaign,cost\na,100\n")
    with pytest.raises(DataFileError, match="'spend'"):
        load_spend(path)
    path.write_text('campaign,spend\na,"1,200"\n')
    assert load_spend(path) == {"a": 1200.0}


@pytest.mark.slow
def test_report_cli_writes_self_contained_html_csv_and_logs_to_mlflow(
    cli: typer.Typer, files: Path, tmp_path: Path
) -> None:
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = ["report", "campaigns", "--data", str(files / "leads.csv"), "--config", str(files / "leadscore.toml")]
    args += ["--model", str(files / "model"), "--out", str(tmp_path / "report"), "--tracking-uri", store]
    args += ["--min-leads", "40"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    html = (tmp_path / "report" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3
    assert 'src="http' not in html and "<link" not in html and "<script" not in html
    table = pd.read_csv(tmp_path / "report" / "campaigns.csv", index_col=0)
    assert table.index[0] != BAD and table.loc[GOOD, "rank"] < table.loc[BAD, "rank"]
    assert (tmp_path / "report" / "channels.csv").exists()
    client = mlflow.MlflowClient(store)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert len(runs) == 1 and runs[0].data.tags["leadscore.kind"] == "campaign_report"
    assert client.get_experiment(runs[0].info.experiment_id).name == "leadscore-reports"  # not among training runs
    logged = {Path(a.path).name for a in client.list_artifacts(runs[0].info.run_id, "campaign_report")}
    assert {"report.html", "campaigns.csv", "campaign_revenue_per_lead.png"} <= logged


def test_report_cli_without_tracking_uri_logs_nothing_and_needs_a_campaign(
    cli: typer.Typer, files: Path, tmp_path: Path
) -> None:
    args = ["report", "campaigns", "--data", str(files / "leads.csv"), "--model", str(files / "model")]
    result = runner.invoke(cli, [*args, "--config", str(files / "leadscore.toml"), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0 and "MLflow" not in result.output
    (tmp_path / "nocampaign.toml").write_text(CONFIG_TOML.replace('campaign = "campaign"\n', ""))
    result = runner.invoke(cli, [*args, "--config", str(tmp_path / "nocampaign.toml"), "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "campaign column" in result.output


def test_report_needs_some_outcomes(fitted: FitResult, history: pd.DataFrame, demo_config: LeadscoreConfig) -> None:
    new = history.tail(200).drop(columns=OUTCOMES)
    with pytest.raises(DataFileError, match="no lead with an outcome"):
        build_report(score_leads(fitted.scorer, new, demo_config.data), new, demo_config.data)


# ------------------------------------------------------------------ quota planner
def _simulate_holdout(holdout: pd.DataFrame, truth: pd.DataFrame, target: float, runs: int = 300) -> float:
    """Median leads needed when held-out leads are drawn at random and their outcomes drawn from the
    generator's true win probability and deal size (deal shape from the held-out wins)."""
    t = truth.set_index("lead_id").loc[holdout["lead_id"]]
    p_won = t["p_won_true"].to_numpy()
    deal = (t["expected_revenue_true"] / t["p_won_true"]).to_numpy()
    wins = holdout.loc[holdout["won"] == 1, "revenue"].to_numpy()
    shape = wins / wins.mean()
    rng = np.random.default_rng(11)
    needed = []
    for _ in range(runs):
        i = rng.integers(0, len(holdout), size=20_000)
        revenue = np.where(rng.random(i.size) < p_won[i], deal[i] * rng.choice(shape, size=i.size), 0.0)
        needed.append(np.searchsorted(np.cumsum(revenue), target) + 1)
    return float(np.median(needed))


def test_plan_lead_count_is_within_its_interval_of_a_holdout_simulation(
    fitted: FitResult, funnel: tuple[pd.DataFrame, pd.DataFrame], demo_config: LeadscoreConfig
) -> None:
    history = pd.concat([fitted.split.train, fitted.split.valid])
    holdout = fitted.split.holdout
    past = score_leads(fitted.scorer, history, demo_config.data, explain=False)
    mix = holdout["campaign"].value_counts(normalize=True).to_dict()
    plan = plan_quota(past, history["campaign"], 1_000_000, mix=mix)
    simulated = _simulate_holdout(holdout, funnel[1], 1_000_000)
    assert plan.leads.lo <= simulated <= plan.leads.hi
    assert plan.leads.lo < plan.leads.estimate < plan.leads.hi


def test_plan_is_consistent_and_scales_with_target(scored: ScoredLeads, history: pd.DataFrame) -> None:
    plan = plan_quota(scored, history["campaign"], 2_000_000, period="2026-Q1")
    assert plan.campaigns["share"].sum() == pytest.approx(1.0) and plan.mix_source == "historical"
    assert plan.leads.estimate <= plan.campaigns["leads"].sum() <= plan.leads.estimate + len(plan.campaigns)
    assert plan.accepted is not None and plan.wins.estimate < plan.accepted.estimate < plan.leads.estimate
    assert (plan.campaigns["wins"] <= plan.campaigns["accepted"]).all()
    double = plan_quota(scored, history["campaign"], 4_000_000)
    assert 1.6 < double.leads.estimate / plan.leads.estimate < 2.4
    relative = (plan.leads.hi - plan.leads.lo) / plan.leads.estimate
    assert (double.leads.hi - double.leads.lo) / double.leads.estimate < relative
    payload = json.loads(json.dumps(plan.to_dict()))
    assert payload["period"] == "2026-Q1" and len(payload["campaigns"]) == len(plan.campaigns)


def test_plan_with_good_campaigns_needs_fewer_leads(scored: ScoredLeads, history: pd.DataFrame) -> None:
    historical = plan_quota(scored, history["campaign"], 1_000_000)
    good = plan_quota(scored, history["campaign"], 1_000_000, mix={GOOD: 0.5, "customer_referral": 0.5})
    bad = plan_quota(scored, history["campaign"], 1_000_000, mix={BAD: 1.0})
    assert set(good.campaigns.index) == {GOOD, "customer_referral"} and good.mix_source == "given"
    assert good.leads.hi < historical.leads.estimate < bad.leads.lo


@pytest.mark.parametrize(
    ("mix", "message"),
    [
        ({"no_such_campaign": 1.0}, "not in the data"),
        ({GOOD: 0.5, BAD: 0.3}, "sum to 1"),
        ({GOOD: 1.5, BAD: -0.5}, "between 0 and 1"),
    ],
)
def test_plan_rejects_bad_mix(scored: ScoredLeads, history: pd.DataFrame, mix: dict, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        plan_quota(scored, history["campaign"], 1_000_000, mix=mix)


@pytest.mark.parametrize("target", [-5.0, 0.0, math.nan])
def test_plan_rejects_non_positive_target(scored: ScoredLeads, history: pd.DataFrame, target: float) -> None:
    with pytest.raises(PlanError, match="positive amount"):
        plan_quota(scored, history["campaign"], target)


def test_mix_and_amount_parsing() -> None:
    assert parse_mix(f"{GOOD}=0.25, {BAD} = 75%") == {GOOD: 0.25, BAD: 0.75}
    for text, message in (("webinar", "campaign=share"), ("a=0.5,a=0.5", "twice"), (" , ", "empty")):
        with pytest.raises(PlanError, match=message):
            parse_mix(text)
    assert parse_amount("2.5M") == 2_500_000 and parse_amount("250k") == 250_000
    assert parse_amount("1,000,000") == 1_000_000
    with pytest.raises(PlanError, match="not an amount"):
        parse_amount("lots")


def test_plan_cli_table_json_and_clear_errors(cli: typer.Typer, files: Path) -> None:
    base = ["plan", "--data", str(files / "leads.csv"), "--config", str(files / "leadscore.toml")]
    base += ["--model", str(files / "model"), "--simulations", "500"]
    result = runner.invoke(cli, [*base, "--revenue-target", "1.5M", "--period", "2026-Q1"])
    assert result.exit_code == 0, result.output
    words = " ".join(result.output.split())
    assert "2026-Q1" in words and "for 80% confidence" in words
    result = runner.invoke(cli, [*base, "--revenue-target", "1.5M", "--json", "--mix", f"{GOOD}=0.6,{BAD}=0.4"])
    payload = json.loads(result.stdout)
    assert payload["target"] == 1_500_000 and {c["campaign"] for c in payload["campaigns"]} == {GOOD, BAD}
    for extra, message in (
        (["--revenue-target", "-5"], "positive"),
        (["--revenue-target", "1M", "--mix", "nowhere=1"], "not in the data"),
        (["--revenue-target", "1M", "--mix", f"{GOOD}=0.5"], "sum to 1"),
    ):
        result = runner.invoke(cli, [*base, *extra])
        assert result.exit_code == 2 and message in result.output


# ------------------------------------------------------------------ capacity routing
def test_route_gives_exactly_n_per_owner_in_expected_revenue_order(fitted: FitResult, history: pd.DataFrame) -> None:
    routed = route_leads(fitted.scorer, history, 7, by="owner").leads
    assert routed.groupby("owner").size().to_dict() == {"ana": 7, "ben": 7, "cho": 7}
    open_leads = history[history["won"].isna()]
    expected = fitted.scorer.predict(open_leads).assign(owner=open_leads["owner"], lead_id=open_leads["lead_id"])
    for owner, picked in routed.groupby("owner"):
        best = expected[expected["owner"] == owner].nlargest(7, "expected_revenue")
        assert list(picked["lead_id"]) == list(best["lead_id"])
        assert list(picked["rank"]) == list(range(1, 8))
        assert picked["expected_revenue"].is_monotonic_decreasing
    assert routed["reasons"].str.len().gt(0).all() and set(routed["grade"]) <= set("ABCD")


def test_route_without_owner_or_outcomes_and_short_owners(fitted: FitResult, history: pd.DataFrame) -> None:
    overall = route_leads(fitted.scorer, history, 5, reasons=0)
    assert len(overall.leads) == 5 and "reasons" not in overall.leads and overall.closed_skipped == len(history) - OPEN
    new = history.head(50).drop(columns=OUTCOMES)
    assert route_leads(fitted.scorer, new, 10).open_leads == 50
    everyone = route_leads(fitted.scorer, history, 10_000, by="owner", reasons=0).leads
    assert len(everyone) == OPEN
    with pytest.raises(DataFileError, match="'team'"):
        route_leads(fitted.scorer, history, 5, by="team")


def test_route_cli_writes_crm_csv(cli: typer.Typer, files: Path, tmp_path: Path) -> None:
    out = tmp_path / "route.csv"
    args = ["route", "--data", str(files / "leads.csv"), "--model", str(files / "model"), "--out", str(out)]
    result = runner.invoke(cli, [*args, "--capacity", "4", "--by", "owner"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert len(table) == 12 and list(table.columns[:3]) == ["lead_id", "owner", "rank"]
    result = runner.invoke(cli, [*args, "--capacity", "4", "--by", "region"])
    assert result.exit_code == 2 and "'region'" in result.output


# ------------------------------------------------------------------ heavy tails, sparse revenue, won-only
HEAVY_DEAL = 8_000_000.0
SPARSE_CAMPAIGNS = {  # name: (leads, win rate)
    "best_win_rate": (900, 0.16),
    "organic": (1800, 0.12),
    "holds_the_big_deal": (1500, 0.09),
    "paid": (2000, 0.07),
    "weak": (1650, 0.04),
    "tiny": (150, 0.02),
}


def _real_funnel(declared: float, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """(leads with campaign / accepted / won / revenue, campaign column) like a marketplace export: only a
    `declared` share of wins carries a deal size (lognormal, a few thousand), the others declare 0, and one
    win in `holds_the_big_deal` is an 8M deal."""
    rng = np.random.default_rng(seed)
    parts = []
    for name, (n, rate) in SPARSE_CAMPAIGNS.items():
        won = (rng.random(n) < rate).astype(float)
        accepted = np.maximum(won, (rng.random(n) < 0.25).astype(float))
        parts.append(pd.DataFrame({"campaign": name, "accepted": accepted, "won": won}))
    frame = pd.concat(parts, ignore_index=True)
    wins = frame.index[frame["won"] == 1]
    deals = rng.choice(wins, size=max(int(declared * len(wins)), 2), replace=False)
    frame["revenue"] = 0.0
    frame.loc[deals, "revenue"] = rng.lognormal(8.5, 0.8, size=len(deals)).round()
    big = next(i for i in deals if frame.loc[i, "campaign"] == "holds_the_big_deal")
    frame.loc[big, "revenue"] = HEAVY_DEAL
    return frame, frame["campaign"]


def _fake_scores(frame: pd.DataFrame, revenue_per_win: float) -> pd.DataFrame:
    """A model that knows each campaign's win rate but believes every win is worth `revenue_per_win`."""
    p_won = frame.groupby("campaign")["won"].transform("mean")
    score = (100 * p_won / p_won.max()).round().astype(int)
    grade = np.select([score >= 80, score >= 50, score >= 20], ["A", "B", "C"], default="D")
    return pd.DataFrame(
        {"score": score, "grade": grade, "p_accept": 0.25, "p_won": p_won, "expected_revenue": p_won * revenue_per_win},
        index=frame.index,
    )


def _scored(frame: pd.DataFrame, roles: list[str], revenue_per_win: float = 200_000.0) -> ScoredLeads:
    outcomes = frame[roles].astype(float)
    scores = _fake_scores(frame, revenue_per_win)
    if "revenue" not in roles:
        scores["expected_revenue"] = np.nan
    return ScoredLeads(scores, outcomes, None)


@pytest.mark.parametrize("declared", [1.0, 0.05], ids=["one-huge-deal", "95%-zero-revenue-wins"])
def test_best_win_rate_is_never_cut_and_one_deal_sets_no_verdict(declared: float) -> None:
    frame, campaigns = _real_funnel(declared)
    scored = _scored(frame, OUTCOMES)
    summary = campaign_summary(scored.scores, campaigns, scored.outcomes)
    assert summary.loc["best_win_rate", "verdict"] == "keep"
    assert summary.loc["organic", "verdict"] != "cut", "a win rate credibly above average is never cut"
    big = summary.loc["holds_the_big_deal"]
    assert big["raw_revenue_per_lead"] > 4 * big["revenue_per_lead"]
    assert summary["deal_cap"].iloc[0] < HEAVY_DEAL
    typical = scored.outcomes.copy()
    deals = typical["revenue"] > 0
    typical.loc[typical["revenue"] == HEAVY_DEAL, "revenue"] = typical.loc[deals, "revenue"].median()
    without = campaign_summary(scored.scores, campaigns, typical)
    pd.testing.assert_series_equal(summary["verdict"], without["verdict"].loc[summary.index])
    assert summary["basis"].iloc[0] == ("revenue_per_lead" if declared == 1.0 else "won_rate")


def test_tiny_campaign_gets_no_verdict_but_its_rates() -> None:
    frame, campaigns = _real_funnel(1.0)
    scored = _scored(frame, OUTCOMES)
    summary = campaign_summary(scored.scores, campaigns, scored.outcomes, min_leads=100)
    tiny = summary.loc["tiny"]
    assert tiny["closed_leads"] >= 100 and tiny["won_leads"] < 10
    assert tiny["verdict"] == TOO_FEW and not pd.isna(tiny["won_rate_hi"])


@pytest.mark.parametrize("roles", [["won"], ["accepted"], OUTCOMES], ids=["won-only", "accepted-only", "revenue"])
def test_console_table_shows_the_outcomes_it_has_and_no_column_of_dashes(roles: list[str]) -> None:
    frame, campaigns = _real_funnel(1.0)
    scored = _scored(frame, roles)
    summary = campaign_summary(scored.scores, campaigns, scored.outcomes)
    table = _report_table(summary, 0.9)
    headers = [str(c.header) for c in table.columns]
    for column in table.columns:
        assert any(cell != "–" for cell in column._cells), f"column {column.header!r} is all dashes"
    expected = {"won": "win rate", "accepted": "accept (actual)", "revenue": "revenue / lead (capped)"}
    assert {expected[r] for r in roles} <= set(headers)
    basis = {"won": "win rate", "accepted": "acceptance rate", "revenue": "capped revenue per closed lead"}[roles[-1]]
    assert basis_text(CampaignReport(summary, None, None, 0.9, 100)).startswith(f"Verdicts on {basis}")


def _history_answer(frame: pd.DataFrame, target: float, drop_top: int) -> float:
    """Leads history needs at its mean revenue per lead, leaving out the `drop_top` largest deals."""
    revenue = frame["revenue"].sort_values()
    kept = revenue.iloc[: len(revenue) - drop_top]
    return target / (kept.sum() / len(frame))


@pytest.mark.parametrize("declared", [1.0, 0.05], ids=["one-huge-deal", "95%-zero-revenue-wins"])
def test_plan_brackets_the_trimmed_history_in_whole_leads_and_warns_when_the_model_disagrees(declared: float) -> None:
    frame, campaigns = _real_funnel(declared)
    scored = _scored(frame, OUTCOMES, revenue_per_win=200_000.0)
    target = 1_000_000.0
    plan = plan_quota(scored, campaigns, target, n_sims=1000)
    trimmed = _history_answer(frame, target, drop_top=1)
    assert plan.leads.lo <= trimmed <= plan.leads.hi
    assert plan.leads.lo <= plan.leads.estimate <= plan.leads.hi
    raw = _history_answer(frame, target, drop_top=0)
    assert plan.raw_leads == math.ceil(raw) and plan.leads.estimate > 2 * raw
    steps = plan.campaigns[[f"{s}{x}" for s in ("leads", "accepted", "wins") for x in ("", "_lo", "_hi")]]
    whole = [plan.leads, plan.wins, plan.accepted]
    assert all(float(v).is_integer() for r in whole if r is not None for v in (r.estimate, r.lo, r.hi))
    assert (steps.to_numpy() % 1 == 0).all()
    assert plan.model_leads is not None and plan.leads.estimate > 2 * plan.model_leads
    assert any("MODEL AND HISTORY DISAGREE" in w for w in plan.warnings)
    assert any("rests on a few deals" in w for w in plan.warnings)
    assert ("revenue is sparse" in " ".join(plan.warnings)) == (declared < 0.5)

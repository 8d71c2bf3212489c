"""The agreed lead definition: parsed strictly, applied per rule, routed stably, and checked against history."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from leadscore.cli.qualification import register
from leadscore.datasets.synthetic import DATA_TOML, QUALIFICATION_TOML, generate_funnel
from leadscore.features.config import ConfigError, LeadscoreConfig, parse_config_text
from leadscore.features.qualification import QualificationConfig, apply_qualification, evaluate_rules
from leadscore.marketing.qualification import check_qualification, suggest_thresholds
from leadscore.models.artifact import save_scorer
from leadscore.models.scorer import LeadScorer
from leadscore.training.fit import FitResult

DOCS = Path(__file__).resolve().parents[2] / "docs" / "qualification.md"
COUNTRIES = ["US", "GB", "DE", "FR", "NL", "CA", "AU"]
RULES = f"""
[qualification]
min_score = 50
flag_score = 85
readiness_mode = "any"

[qualification.fit]
company_size = {{ min = 20, missing = "pass" }}
seniority = {{ not_in = ["intern"] }}
country = {{ in = {json.dumps(COUNTRIES)} }}

[qualification.readiness]
demo_requested = {{ equals = "yes" }}
pricing_page_views = {{ min = 1 }}

[qualification.exclude]
email_domain = {{ in = ["gmail.com", "yahoo.com", "hotmail.com"] }}
industry = {{ in = ["education"] }}
"""
runner = CliRunner()


@pytest.fixture(scope="module")
def config() -> LeadscoreConfig:
    return parse_config_text(DATA_TOML + RULES)


@pytest.fixture(scope="module")
def rules(config: LeadscoreConfig) -> QualificationConfig:
    assert config.qualification is not None
    return config.qualification


@pytest.fixture(scope="module")
def scores(funnel: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    """Scores independent of the rules, so routing is checked against the rules alone."""
    rng = np.random.default_rng(5)
    score = rng.integers(0, 101, size=len(funnel[0]))
    grade = np.select([score >= 80, score >= 50, score >= 20], ["A", "B", "C"], default="D")
    return pd.DataFrame({"score": score, "grade": grade}, index=funnel[0].index)


@pytest.fixture(scope="module")
def scorer(fitted: FitResult) -> LeadScorer:
    """The session's model: the rules' data table is the demo's."""
    return fitted.scorer


def _by_hand(leads: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """The demo rules written directly in pandas: (fit, excluded, ready)."""
    fit = (
        (leads["company_size"].isna() | (leads["company_size"] >= 20))
        & (leads["seniority"] != "intern")
        & leads["country"].isin(COUNTRIES)
    )
    excluded = leads["industry"] == "education"
    ready = (leads["demo_requested"] == "yes") | (leads["pricing_page_views"] >= 1)
    return fit, excluded, ready


def _expected(leads: pd.DataFrame, score: pd.Series) -> pd.DataFrame:
    fit, excluded, ready = _by_hand(leads)
    sales = fit & ~excluded & ready & (score >= 50)
    return pd.DataFrame(
        {
            "stage": np.select([sales, fit & ~excluded], ["sales-ready", "marketing-qualified"], "response"),
            "route": np.select([excluded, sales], ["disqualify", "sales"], "nurture"),
            "review_flag": (score >= 85) & ~sales,
        },
        index=leads.index,
    )


# ---------------------------------------------------------------- parsing and validation
def test_rules_parse_in_file_order_with_readable_descriptions(rules: QualificationConfig) -> None:
    assert [s.id for s in rules.rules] == [
        "fit.company_size",
        "fit.seniority",
        "fit.country",
        "readiness.demo_requested",
        "readiness.pricing_page_views",
        "exclude.email_domain",
        "exclude.industry",
    ]
    text = rules.descriptions()
    assert text["fit.company_size"] == "Fit: company size at least 20"
    assert text["fit.seniority"] == "Fit: seniority not intern"
    assert text["exclude.industry"] == "Excluded: industry in education"
    assert text["min_score"] == "Score at least 50"


@pytest.mark.parametrize(
    ("block", "where", "what"),
    [
        (
            "[qualification.fit]\ncompany_size = { minimum = 20 }",
            "qualification.fit.company_size.minimum",
            "unknown key",
        ),
        ("[qualification]\nmin_scor = 50", "qualification.min_scor", "unknown key"),
        ('[qualification.fit]\ncompany_size = { min = "20" }', "qualification.fit.company_size.min", "valid number"),
        (
            "[qualification.fit]\ncompany_size = { min = 500, max = 20 }",
            "qualification.fit.company_size",
            "greater than",
        ),
        (
            '[qualification.fit]\ncountry = { in = ["US", "GB"], not_in = ["us"] }',
            "qualification.fit.country",
            "in both 'in' and 'not_in'",
        ),
        ("[qualification]\nmin_score = 120", "qualification.min_score", "less than or equal to 100"),
        ("[qualification]\nmin_score = 90\nflag_score = 80", "qualification", "flag_score 80 is below min_score 90"),
        ('[qualification]\nmin_score = 50\nmin_grade = "B"', "qualification", "not both"),
        (
            '[qualification.readiness]\ndemo_requested = { missing = "pass" }',
            "qualification.readiness.demo_requested",
            "no condition",
        ),
        ('[qualification.fit]\ncompany_size = { min = 5, in = ["a"] }', "qualification.fit.company_size", "one kind"),
        (
            "[qualification.readiness]\ndemo_requested = { equals = 1 }",
            "qualification.readiness.demo_requested.equals",
            "min and max",
        ),
        ('[qualification.fit]\ncountry = { in = "US" }', "qualification.fit.country.in", "valid list"),
        ('[qualification.fit]\ncountry = { equals = "FR", in = ["US"] }', "qualification.fit.country", "contradicts"),
        (
            '[qualification.fit]\ncountry = { in = ["US"], missing = "skip" }',
            "qualification.fit.country.missing",
            "'pass' or 'fail'",
        ),
    ],
)
def test_bad_rule_file_names_section_and_field(block: str, where: str, what: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config_text(DATA_TOML + block + "\n")
    assert f"[{where}]" in str(err.value)
    assert what in str(err.value)


def test_documented_demo_file_parses_and_matches_the_tests() -> None:
    blocks = re.findall(r"```toml\n(.*?)```", DOCS.read_text(encoding="utf-8"), flags=re.S)
    documented = [parse_config_text(DATA_TOML + b).qualification for b in blocks if "[qualification]" in b]
    assert parse_config_text(DATA_TOML + RULES).qualification in documented
    assert parse_config_text(DATA_TOML + QUALIFICATION_TOML).qualification in documented  # what demo-data writes


# ---------------------------------------------------------------- applying
def test_routes_and_stages_match_the_rules_written_in_pandas(
    leads: pd.DataFrame, scores: pd.DataFrame, rules: QualificationConfig, demo_config: LeadscoreConfig
) -> None:
    got = apply_qualification(leads, scores, rules, missing_values=demo_config.data.missing_values)
    want = _expected(leads, scores["score"])
    pd.testing.assert_frame_equal(got[["stage", "route", "review_flag"]], want, check_dtype=False)
    assert set(got["route"]) == {"sales", "nurture", "disqualify"}  # the demo rules use every route
    for row in got.itertuples():
        assert sorted([*row.rules_met, *row.rules_missed]) == sorted([*(s.id for s in rules.rules), "min_score"])


def test_sales_route_finds_better_leads_on_known_structure(
    leads: pd.DataFrame, scores: pd.DataFrame, rules: QualificationConfig, demo_config: LeadscoreConfig
) -> None:
    got = apply_qualification(leads, scores, rules, missing_values=demo_config.data.missing_values)
    accept = leads.groupby(got["route"])["accepted"].mean()
    assert accept["sales"] > 1.5 * accept["nurture"]  # demo requests and pricing views drive acceptance


def test_nurture_leads_carry_the_reasons_they_are_not_ready(
    leads: pd.DataFrame, scores: pd.DataFrame, rules: QualificationConfig, demo_config: LeadscoreConfig
) -> None:
    got = apply_qualification(leads, scores, rules, missing_values=demo_config.data.missing_values)
    nurture = got["route"] == "nurture"
    assert (got.loc[nurture, "nurture_reasons"].str.len() > 0).all()
    assert (got.loc[~nurture, "nurture_reasons"].str.len() == 0).all()
    unready = nurture & (leads["demo_requested"] == "no") & (leads["pricing_page_views"] == 0)
    assert (
        got.loc[unready, "nurture_reasons"]
        .map(lambda r: "Readiness: needs one of demo requested = yes; pricing page views at least 1" in r)
        .all()
    )
    low = nurture & (scores["score"] < 50)
    assert got.loc[low, "nurture_reasons"].map(lambda r: r[-1] == "Score at least 50 is needed to be sales-ready").all()
    fit_only = nurture & (leads["seniority"] == "intern")
    assert got.loc[fit_only, "nurture_reasons"].map(lambda r: "Fit: needs seniority not intern" in r).all()


def test_routing_is_stable_under_field_reordering(
    leads: pd.DataFrame, scores: pd.DataFrame, rules: QualificationConfig, demo_config: LeadscoreConfig
) -> None:
    tokens = demo_config.data.missing_values
    base = apply_qualification(leads, scores, rules, missing_values=tokens)
    shuffled = leads[list(np.random.default_rng(3).permutation(leads.columns))]
    pd.testing.assert_frame_equal(apply_qualification(shuffled, scores, rules, missing_values=tokens), base)
    reindexed = leads.set_axis(leads.index + 1000)
    again = apply_qualification(reindexed, scores.set_axis(reindexed.index), rules, missing_values=tokens)
    pd.testing.assert_frame_equal(again.set_axis(leads.index), base)


def test_values_are_read_like_the_model_reads_them(demo_config: LeadscoreConfig) -> None:
    rules = QualificationConfig.model_validate(
        {
            "fit": {"company_size": {"min": 1000}, "country": {"in": ["us"]}},
            "readiness": {"demo_requested": {"equals": True}},
            "exclude": {"email_domain": {"in": ["gmail.com"]}},
        }
    )
    leads = pd.DataFrame(
        {
            "company_size": ["1,200", "N/A", "999", " 5000 "],
            "country": [" US", "us", "Us", "GB"],
            "demo_requested": ["Yes", "1", "no", "TRUE"],
            "email": ["a@Example.com", "b@GMAIL.com", "c@gmail.com ", "not an address"],
        }
    )
    results = evaluate_rules(leads, rules, missing_values=demo_config.data.missing_values)
    assert results.passed["fit.company_size"].tolist() == [True, False, False, True]
    assert results.missing["fit.company_size"].tolist() == [False, True, False, False]
    assert results.passed["fit.country"].tolist() == [True, True, True, False]
    assert results.passed["readiness.demo_requested"].tolist() == [True, True, False, True]
    assert results.passed["exclude.email_domain"].tolist() == [True, False, False, True]
    assert results.missing["exclude.email_domain"].tolist() == [False, False, False, True]
    own = leads.assign(email_domain=["gmail.com", "x.org", "x.org", "x.org"])  # a real column wins over derivation
    assert evaluate_rules(own, rules, missing_values=()).passed["exclude.email_domain"].tolist() == [
        False,
        True,
        True,
        True,
    ]


def test_missing_policy_decides_not_given_values(demo_config: LeadscoreConfig) -> None:
    leads = pd.DataFrame({"company_size": [np.nan, 50.0], "industry": [None, "education"]})
    strict = QualificationConfig.model_validate(
        {"fit": {"company_size": {"min": 20}}, "exclude": {"industry": {"in": ["education"]}}}
    )
    lenient = QualificationConfig.model_validate(
        {
            "fit": {"company_size": {"min": 20, "missing": "pass"}},
            "exclude": {"industry": {"in": ["education"], "missing": "fail"}},
        }
    )
    tokens = demo_config.data.missing_values
    assert evaluate_rules(leads, strict, missing_values=tokens).passed.to_numpy().tolist() == [
        [False, True],
        [True, False],
    ]
    assert evaluate_rules(leads, lenient, missing_values=tokens).passed.to_numpy().tolist() == [
        [True, False],
        [True, False],
    ]


def test_missing_column_is_named_unless_allowed(
    leads: pd.DataFrame, scores: pd.DataFrame, rules: QualificationConfig, demo_config: LeadscoreConfig
) -> None:
    tokens = demo_config.data.missing_values
    without = leads.drop(columns=["seniority", "email"])
    with pytest.raises(ConfigError, match=r"\['email', 'seniority'\].*exclude.email_domain"):
        apply_qualification(without, scores, rules, missing_values=tokens)
    got = apply_qualification(without, scores, rules, missing_values=tokens, allow_missing=True)
    assert (got["route"] != "sales").all()  # seniority not given fails fit by default
    assert got["rules_missed"].map(lambda r: "fit.seniority" in r).all()


def test_grade_threshold_and_review_flag(
    leads: pd.DataFrame, scores: pd.DataFrame, demo_config: LeadscoreConfig
) -> None:
    rules = QualificationConfig.model_validate(
        {"min_grade": "B", "flag_score": 60, "fit": {"seniority": {"in": ["vp"]}}}
    )
    got = apply_qualification(leads, scores, rules, missing_values=demo_config.data.missing_values)
    sales = (leads["seniority"] == "vp") & scores["grade"].isin(["A", "B"])
    assert ((got["route"] == "sales") == sales).all()
    assert (got["review_flag"] == ((scores["score"] >= 60) & ~sales)).all()


def test_no_rules_and_no_leads_are_handled(scores: pd.DataFrame, leads: pd.DataFrame) -> None:
    everyone = apply_qualification(leads, scores, QualificationConfig(), missing_values=())
    assert (everyone["route"] == "sales").all() and (everyone["rules_missed"].str.len() == 0).all()
    none = apply_qualification(leads.iloc[:0], scores.iloc[:0], QualificationConfig(), missing_values=())
    assert none.empty and list(none.columns) == list(everyone.columns)


def test_results_are_json_ready_for_the_api(
    leads: pd.DataFrame, scores: pd.DataFrame, rules: QualificationConfig, demo_config: LeadscoreConfig
) -> None:
    got = apply_qualification(leads.head(50), scores.head(50), rules, missing_values=demo_config.data.missing_values)
    records = json.loads(json.dumps(got.to_dict("records")))
    assert records[0].keys() == {"stage", "route", "rules_met", "rules_missed", "review_flag", "nurture_reasons"}
    assert [r["route"] for r in records] == got["route"].tolist()


def test_new_activity_can_move_a_nurtured_lead_to_sales(
    leads: pd.DataFrame, scorer: LeadScorer, rules: QualificationConfig, demo_config: LeadscoreConfig
) -> None:
    tokens = demo_config.data.missing_values
    before = apply_qualification(leads, scorer.predict(leads), rules, missing_values=tokens)
    waiting = leads[(before["route"] == "nurture") & (before["stage"] == "marketing-qualified")]
    waiting = waiting[(waiting["demo_requested"] == "no") & (waiting["pricing_page_views"] == 0)]
    active = waiting.assign(demo_requested="yes", pricing_page_views=4, days_since_last_activity=1.0)
    after = apply_qualification(active, scorer.predict(active), rules, missing_values=tokens)
    moved = after["route"] == "sales"
    assert moved.mean() > 0.5
    assert after.loc[~moved, "rules_missed"].map(lambda r: r == ("min_score",)).all()


# ---------------------------------------------------------------- check and suggest
def test_check_numbers_agree_with_pandas(
    leads: pd.DataFrame, scores: pd.DataFrame, config: LeadscoreConfig, rules: QualificationConfig
) -> None:
    report = check_qualification(leads, config, rules, scores)
    results = evaluate_rules(leads, rules, missing_values=config.data.missing_values, scores=scores)
    table = report.rules.set_index("rule")
    assert list(table.index) == list(results.passed.columns)
    for rule_id, row in table.iterrows():
        ok = results.passed[rule_id]
        assert row["passing"] == ok.sum()
        for suffix, group in (("pass", leads[ok]), ("fail", leads[~ok])):
            for column, value in (
                ("accept_rate", group["accepted"].mean()),
                ("win_rate", group["won"].mean()),
                ("revenue", group["revenue"].sum()),
                ("revenue_per_lead", group["revenue"].sum() / len(group) if len(group) else np.nan),
            ):
                assert row[f"{column}_{suffix}"] == pytest.approx(value, nan_ok=True)
        assert row["revenue_cut_share"] == pytest.approx(leads.loc[~ok, "revenue"].sum() / leads["revenue"].sum())
    direct = _expected(leads, scores["score"])
    funnel = report.funnel.set_index("step")
    sales = leads[direct["route"] == "sales"]
    assert funnel.loc["sales-ready (score at least 50)", "leads"] == len(sales)
    assert funnel.loc["sales-ready (score at least 50)", "wins_kept"] == pytest.approx(
        sales["won"].sum() / leads["won"].sum()
    )
    assert funnel.loc["not excluded", "leads"] == (direct["route"] != "disqualify").sum()
    assert table.loc["exclude.email_domain", "verdict"] == "cuts nothing"  # demo e-mails are not free-mail


def test_check_without_scores_leaves_the_threshold_out(
    leads: pd.DataFrame, config: LeadscoreConfig, rules: QualificationConfig
) -> None:
    report = check_qualification(leads, config, rules)
    assert "min_score" not in set(report.rules["rule"])
    assert report.funnel["step"].tolist() == ["all leads", "not excluded", "marketing-qualified", "ready"]


def test_a_rule_that_cuts_most_wins_never_earns_its_keep(leads: pd.DataFrame) -> None:
    """Few leads visit ten times, and they win more often than the rest, but the rule fails ~80% of the wins."""
    config = parse_config_text(DATA_TOML + "[qualification.readiness]\nweb_visits = { min = 10 }\n")
    assert config.qualification is not None
    row = check_qualification(leads, config, config.qualification).rules.set_index("rule").loc["readiness.web_visits"]
    assert row["wins_cut_share"] > 0.75 and row["wins_cut_share"] < row["volume_cut"]  # good lift, most wins gone
    assert row["win_rate_pass"] > 2 * row["win_rate_fail"]
    assert row["verdict"] == "too strict"


def test_one_huge_deal_does_not_decide_a_rule(leads: pd.DataFrame) -> None:
    """With 95% of wins declaring no revenue and one 8M deal outside the country list, the country rule is
    judged on the wins it cuts, not on the one deal's share of revenue."""
    leads = leads.copy()
    wins = leads.index[leads["won"] == 1]
    rng = np.random.default_rng(0)
    leads.loc[rng.choice(wins, size=int(0.95 * len(wins)), replace=False), "revenue"] = 0.0
    abroad = wins[~leads.loc[wins, "country"].isin(COUNTRIES)]
    leads.loc[abroad[0], "revenue"] = 8_000_000.0
    config = parse_config_text(DATA_TOML + "[training]\nmin_positives = 20\n" + RULES)
    assert config.qualification is not None
    report = check_qualification(leads, config, config.qualification)
    row = report.rules.set_index("rule").loc["fit.country"]
    assert row["revenue_cut_share"] > 0.5 and row["wins_cut_share"] < 0.2
    assert row["verdict"] == ("earns its keep" if row["wins_cut_share"] < row["volume_cut"] else "costs wins")
    assert row["judged_on"] == "won" and row["value_cut_share"] == pytest.approx(row["wins_cut_share"])


@pytest.mark.parametrize(("keep", "cut"), [(0.9, 0.3), (0.5, 0.9), (0.5, 0.3)])
def test_suggested_threshold_is_the_highest_that_keeps_the_wins_if_it_meets_the_cut_goal(
    leads: pd.DataFrame,
    scores: pd.DataFrame,
    config: LeadscoreConfig,
    rules: QualificationConfig,
    keep: float,
    cut: float,
) -> None:
    report = check_qualification(leads, config, rules, scores)
    suggestion = suggest_thresholds(report, scores["score"], keep, cut)
    score, won = scores["score"], leads["won"]
    kept = {t: won[score >= t].sum() / won.sum() for t in range(101)}
    best = max(t for t in range(101) if kept[t] >= keep)
    options = suggestion.options
    assert options.loc["keep_wins", "min_score"] == best
    assert options.loc["keep_wins", "volume_cut"] == pytest.approx((score < best).mean())
    assert options.loc["keep_wins", "wins_kept"] == pytest.approx(kept[best])
    meets = (score < best).mean() >= cut
    assert suggestion.meets_cut == meets
    assert suggestion.min_score == (best if meets else None), "a threshold missing the cut goal is not proposed"
    lowest_cut = min(t for t in range(101) if (score < t).mean() >= cut)
    assert options.loc["cut_volume", "min_score"] == lowest_cut
    fit, excluded, ready = _by_hand(leads)
    rules_ok = fit & ~excluded & ready
    assert options.loc["keep_wins_with_rules", "wins_kept"] == pytest.approx(
        won[rules_ok & (score >= best)].sum() / won.sum()
    )


# ---------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, scorer: LeadScorer) -> Path:
    root = tmp_path_factory.mktemp("qualification")
    generate_funnel(3000, seed=2)[0].to_csv(root / "leads.csv", index=False)
    (root / "leadscore.toml").write_text(DATA_TOML + RULES)
    (root / "plain.toml").write_text(DATA_TOML)
    save_scorer(scorer, root / "model")
    return root


def _cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Stand-in for the leadscore app."""

    register(app)
    return app


def test_cli_check_prints_rules_and_funnel(project: Path, config: LeadscoreConfig) -> None:
    result = runner.invoke(
        _cli(),
        ["qualification", "check", "--data", str(project / "leads.csv"), "--config", str(project / "leadscore.toml")],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    for text in ("Fit: Company size at least 20", "Excluded: Industry in education", "marketing-qualified", "3,000"):
        assert text in result.output
    assert "Score at least 50" not in result.output  # no model given


def test_cli_json_and_suggest_match_the_library(project: Path, config: LeadscoreConfig, scorer: LeadScorer) -> None:
    args = ["qualification", "check", "--data", str(project / "leads.csv"), "--config", str(project / "leadscore.toml")]
    result = runner.invoke(
        _cli(), [*args, "--model", str(project / "model"), "--suggest", "--keep-wins", "0.8", "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    frame = pd.read_csv(project / "leads.csv", dtype=str, keep_default_na=False)
    scores = scorer.predict(frame)
    report = check_qualification(frame, config, config.qualification, scores)  # type: ignore[arg-type]
    assert [r["rule"] for r in payload["rules"]] == report.rules["rule"].tolist()
    assert [r["passing"] for r in payload["rules"]] == report.rules["passing"].tolist()
    assert payload["suggestion"]["min_score"] == suggest_thresholds(report, scores["score"], 0.8, 0.3).min_score
    sales = [r for r in payload["funnel"] if r["step"].startswith("sales-ready")]
    assert sales and sales[0]["leads"] == report.funnel["leads"].iloc[-1]


@pytest.mark.parametrize(
    ("config_name", "drop", "message"),
    [
        ("plain.toml", None, "plain.toml has no qualification rules"),
        ("bad.toml", None, "Input should be a valid number"),
        ("leadscore.toml", "seniority", "rules read column(s) the data does not have: ['seniority']"),
    ],
)
def test_cli_errors_are_clear(project: Path, config_name: str, drop: str | None, message: str) -> None:
    (project / "bad.toml").write_text(DATA_TOML + '[qualification.fit]\ncompany_size = { min = "20" }\n')
    data = project / "leads.csv"
    if drop:
        data = project / f"without_{drop}.csv"
        pd.read_csv(project / "leads.csv").drop(columns=[drop]).to_csv(data, index=False)
    result = runner.invoke(
        _cli(), ["qualification", "check", "--data", str(data), "--config", str(project / config_name)]
    )
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_cli_score_carries_stage_route_and_rules(project: Path, rules: QualificationConfig, scorer: LeadScorer) -> None:
    from leadscore.cli.main import app as leadscore_app

    out = project / "scored.csv"
    args = ["score", "--data", str(project / "leads.csv"), "--out", str(out), "--model", str(project / "model")]
    result = CliRunner().invoke(leadscore_app, [*args, "--config", str(project / "leadscore.toml"), "--reasons", "0"])
    assert result.exit_code == 0, result.output
    assert "routes" in result.output and "sales:" in result.output
    scored = pd.read_csv(out, keep_default_na=False)
    assert {"stage", "route", "review_flag", "rules_missed", "nurture_reasons"} <= set(scored.columns)
    leads = pd.read_csv(project / "leads.csv", dtype=str, keep_default_na=False)
    expected = apply_qualification(leads, scorer.predict(leads), rules, missing_values=scorer.data.missing_values)
    assert scored["route"].tolist() == expected["route"].tolist()
    assert scored["rules_missed"].tolist() == ["; ".join(r) for r in expected["rules_missed"]]
    plain = CliRunner().invoke(leadscore_app, [*args, "--config", str(project / "plain.toml"), "--reasons", "0"])
    assert plain.exit_code == 0 and "no [qualification] table" in plain.output
    assert "route" not in pd.read_csv(out).columns


def test_nurture_reasons_name_columns_by_their_labels(
    leads: pd.DataFrame, scores: pd.DataFrame, rules: QualificationConfig, scorer: LeadScorer
) -> None:
    """`[labels]` reach the qualification reasons of `score --config` as they reach the model's reasons."""
    import copy

    from leadscore.scoring.batch import score_chunk

    labelled = copy.copy(scorer)
    labelled.labels = parse_config_text(
        DATA_TOML + '[labels]\ndemo_requested = "Asked for a demo"\ncompany_size = "Employees"\n'
    ).labels
    scored, _ = score_chunk(labelled, leads.head(400), allow_missing=False, reasons=0, rules=rules)
    nurtured = scored.loc[scored["route"] == "nurture", "nurture_reasons"]
    assert nurtured.str.contains("Asked for a demo").any()
    assert not nurtured.str.contains("demo requested").any()


def test_year_like_numbers_read_as_years() -> None:
    from leadscore.models.reasons import display_value

    assert display_value(1988, "numeric", "ok") == "1988"
    assert display_value("2,024", "numeric", "ok") == "2024"
    assert display_value(1362, "numeric", "ok") == "1,362"
    assert display_value(25000.5, "numeric", "ok") == "25,000.50"
    spec = parse_config_text(DATA_TOML + "[qualification.fit]\nyear_founded = { min = 1990 }\n").qualification
    assert spec is not None and "at least 1990" in spec.descriptions()["fit.year_founded"]

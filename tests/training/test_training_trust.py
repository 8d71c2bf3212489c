"""Issue #14: the model is never silently wrong — refit on all history, leak check v2, revenue that adds up,
drift in history, and the promotion rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadscore.datasets.synthetic import CONFIG_TOML, DATA_TOML
from leadscore.features.config import LeadscoreConfig, parse_config_text
from leadscore.features.validation import prepare_training_frame
from leadscore.training.evaluate import LeakageError
from leadscore.training.fit import FitResult, fit_and_evaluate, heads_phrase, leak_findings
from leadscore.training.gate import CHALLENGER, CHAMPION, Comparison, QualityCheck, decide, quality_check


def _by_time(leads: pd.DataFrame) -> pd.DataFrame:
    return leads.sort_values("created_at", kind="stable").reset_index(drop=True)


@pytest.fixture(scope="module")
def late_campaign_fit(funnel: tuple[pd.DataFrame, pd.DataFrame]) -> FitResult:
    """A campaign that only starts in the most recent 30% of the file (the validation and holdout folds)."""
    leads = _by_time(funnel[0])
    late = leads.index[int(len(leads) * 0.7) :: 3]
    leads.loc[late, "campaign"] = "late_launch_webinar"
    return fit_and_evaluate(leads, parse_config_text(CONFIG_TOML))


def test_registered_model_is_refit_on_all_history(late_campaign_fit: FitResult) -> None:
    fit = late_campaign_fit
    assert fit.evaluated is not None and fit.evaluated is not fit.scorer
    assert "late_launch_webinar" not in fit.evaluated.transformer_.codes_["campaign"]
    assert "late_launch_webinar" in fit.scorer.transformer_.codes_["campaign"]
    everyone = pd.concat([fit.split.train, fit.split.valid, fit.split.holdout])
    assert fit.scorer.seen(everyone["lead_id"]).all()
    assert not fit.evaluated.seen(fit.split.holdout["lead_id"]).any()
    for head, settings in fit.scorer.head_settings_.items():
        evaluated = fit.evaluated.head_settings_[head]
        assert settings.params == evaluated.params and settings.train_rows > evaluated.train_rows
        assert settings.rounds >= evaluated.rounds
    late = fit.split.holdout[fit.split.holdout["campaign"] == "late_launch_webinar"].head(20)
    _, status = fit.scorer.transformer_.transform_with_status(late)
    assert (status["campaign"] == "ok").all(), "a category the file holds hundreds of times is not 'unseen'"


def test_refit_stays_calibrated(late_campaign_fit: FitResult, funnel: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """The refit's calibration comes from out-of-fold predictions; on the whole history it must still add up."""
    leads = funnel[0]
    scores = late_campaign_fit.scorer.predict(leads)
    assert scores["p_won"].mean() == pytest.approx(leads["won"].mean(), rel=0.25)
    assert scores["p_accept"].mean() == pytest.approx(leads["accepted"].mean(), rel=0.25)


@pytest.mark.slow
def test_column_filled_only_on_wins_stops_training(funnel: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    leads = funnel[0].copy()
    wins = leads.index[leads["won"] == 1]
    leads["has_company"] = np.nan
    filled = wins[: max(10, len(wins) // 14)]  # filled on 7% of wins, never on losses
    leads.loc[filled, "has_company"] = np.arange(len(filled)) % 2
    with pytest.raises(LeakageError, match=r"'has_company' \(won\): filled on"):
        fit_and_evaluate(leads, parse_config_text(CONFIG_TOML))
    allowed = parse_config_text(CONFIG_TOML + '\n[training]\nallow_leaky = ["has_company"]\n')
    assert fit_and_evaluate(leads, allowed).scorer is not None


def blanks_filled_by_export(leads: pd.DataFrame) -> pd.DataFrame:
    """Closed-deal columns known only for won leads, with the blanks of the others filled in as CRM exports do:
    False for a flag, 0 for a count."""
    leads = leads.copy()
    rng = np.random.default_rng(4)
    won = leads["won"].to_numpy() == 1
    leads["has_company_on_deal"] = won & (rng.random(len(leads)) < 0.6)
    leads["declared_catalog_size"] = np.where(won & (rng.random(len(leads)) < 0.8), rng.integers(1, 500, len(leads)), 0)
    return leads


def test_blanks_filled_with_false_or_zero_do_not_hide_a_leak(funnel: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """Leak check v3: leads off a column's most common value (True, non-zero) are all wins."""
    config = parse_config_text(CONFIG_TOML)
    leads = prepare_training_frame(blanks_filled_by_export(funnel[0]), config).frame
    found = {(f.column, f.head, f.kind): f.detail for f in leak_findings(leads, config)}
    for column in ("has_company_on_deal", "declared_catalog_size"):
        detail = found[(column, "won", "one outcome only")]
        assert "value other than its most common" in detail and "100.0% of them won leads" in detail
    clean = prepare_training_frame(funnel[0], config).frame
    assert not leak_findings(clean, config), "the clean funnel raises no alarm"


def test_rare_value_of_an_ordinary_column_is_not_a_leak(funnel: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """A column whose uncommon values are spread over both outcomes stays unflagged, however sparse."""
    leads = funnel[0].copy()
    rng = np.random.default_rng(5)
    leads["referral_count"] = np.where(rng.random(len(leads)) < 0.1, rng.integers(1, 9, len(leads)), 0)
    config = parse_config_text(CONFIG_TOML)
    leads = prepare_training_frame(leads, config).frame
    assert "referral_count" not in {f.column for f in leak_findings(leads, config)}


def test_column_too_good_to_be_known_early_stops_training(funnel: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    leads = funnel[0].copy()
    rng = np.random.default_rng(0)
    noisy = rng.random(len(leads)) < 0.18
    tags = np.where(leads["won"] == 1, "Closed by rep", "Will revert")
    leads["Tags"] = np.where(noisy, rng.choice(["Closed by rep", "Will revert"], len(leads)), tags)
    with pytest.raises(LeakageError, match=r"'Tags' \(won\): alone predicts won with AUC 0\.(8[5-9]|9)"):
        fit_and_evaluate(leads, parse_config_text(CONFIG_TOML))


@pytest.mark.slow
def test_sparse_heavy_tailed_revenue_adds_up(funnel: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """95% of wins declare no revenue and one deal is 8M: train anyway, stay within 3x of history."""
    leads = funnel[0].copy()
    wins = leads.index[leads["won"] == 1]
    rng = np.random.default_rng(1)
    silent = rng.choice(wins, size=int(len(wins) * 0.95), replace=False)
    leads.loc[silent, "revenue"] = 0.0
    declared = wins.difference(silent)
    leads.loc[declared[0], "revenue"] = 8_000_000.0
    fit = fit_and_evaluate(leads, parse_config_text(CONFIG_TOML))
    assert any("declare revenue" in str(w) for w in fit.report.warnings)
    per_lead = fit.scorer.predict(leads)["expected_revenue"].mean()
    history = leads["revenue"].mean()
    without_the_deal = leads["revenue"].drop(index=declared[0]).mean()
    assert without_the_deal / 3 <= per_lead <= history * 3, (per_lead, history, without_the_deal)
    assert fit.scorer.revenue_cap_ < 8_000_000


@pytest.mark.slow
def test_revenue_head_off_by_more_than_3x_is_dropped(funnel: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """Deal sizes that jump 20x in the most recent leads: the head cannot hold on the holdout, so it goes."""
    leads = _by_time(funnel[0])
    recent = leads.index[int(len(leads) * 0.8) :]
    leads.loc[recent, "revenue"] *= 20
    fit = fit_and_evaluate(leads, parse_config_text(CONFIG_TOML))
    assert any("revenue head dropped" in note for note in fit.notes)
    assert fit.scorer.revenue_basis == "historical mean" and "revenue" not in fit.scorer.heads_


@pytest.mark.slow
def test_drift_between_folds_is_reported(funnel: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    leads = _by_time(funnel[0])
    recent = leads.index[int(len(leads) * 0.8) :]
    flip = leads.loc[recent].query("accepted == 1 and won == 0").index
    leads.loc[flip, "won"] = 1
    leads.loc[flip, "revenue"] = 20_000.0
    fit = fit_and_evaluate(leads, parse_config_text(CONFIG_TOML))
    assert any("won rate drifts" in note for note in fit.notes)


def test_train_names_only_the_configured_heads() -> None:
    won_only = DATA_TOML.replace('accepted = "accepted"\n', "").replace('revenue = "revenue"\n', "")
    assert heads_phrase(parse_config_text(won_only)) == "win head"
    assert heads_phrase(parse_config_text(CONFIG_TOML)) == "acceptance, win and revenue heads"


def _metrics(auc: float, logreg: float, loss: float = 0.2, base_loss: float = 0.3) -> dict[str, float]:
    return {
        "won_roc_auc": auc,
        "baseline_logreg_won_roc_auc": logreg,
        "won_log_loss": loss,
        "baseline_rate_won_log_loss": base_loss,
    }


def test_quality_gate_refuses_models_below_their_baselines() -> None:
    assert quality_check(_metrics(0.80, 0.79), 0.005).passed
    assert quality_check(_metrics(0.786, 0.79), 0.005).passed, "within the tolerance"
    worse = quality_check(_metrics(0.49, 0.68), 0.005)
    assert not worse.passed and "0.490 does not beat logistic regression 0.680" in worse.failures[0]
    no_better_than_rate = quality_check(_metrics(0.70, 0.60, loss=0.4, base_loss=0.3), 0.005)
    assert not no_better_than_rate.passed and "base rate" in no_better_than_rate.failures[0]


def test_gate_decisions() -> None:
    ok, bad = QualityCheck(("won: fine",), ()), QualityCheck((), ("won AUC 0.490 does not beat",))
    assert decide("1", ok, None, 0.005).alias == CHAMPION
    assert decide("1", bad, None, 0.005).alias is None
    assert decide("1", bad, None, 0.005, force=True).alias == CHAMPION
    fair = Comparison("3", "won_roc_auc", champion=0.80, challenger=0.75, leads=900)
    assert decide("4", ok, fair, 0.005).alias == CHALLENGER
    unfair = Comparison("3", "won_roc_auc", no_contest="champion v3 uses column(s) ['Tags'] that the config excludes")
    decision = decide("4", ok, unfair, 0.005)
    assert decision.alias == CHAMPION and "'Tags'" in decision.reason


def test_promotion_metric_is_checked_before_training() -> None:
    from leadscore.features.config import ConfigError

    with pytest.raises(ConfigError, match="promotion_metric 'won_auc'"):
        parse_config_text(CONFIG_TOML + '\n[training]\npromotion_metric = "won_auc"\n')
    accepted_only = DATA_TOML.replace('won = "won"\n', "").replace('revenue = "revenue"\n', "")
    config: LeadscoreConfig = parse_config_text(accepted_only)
    assert config.promotion_metric == "accepted_roc_auc"

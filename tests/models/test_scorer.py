"""The LeadScorer artifact: recovers the generator's structure, scores, explains, saves and loads safely."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shap
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from leadscore.datasets.synthetic import CONFIG_TOML
from leadscore.features.config import LeadscoreConfig, parse_config_text
from leadscore.models.artifact import MANIFEST_FILE, MODEL_FILE, ModelLoadError, load_scorer, save_scorer
from leadscore.models.scorer import GRADE_THRESHOLDS, LeadScorer
from leadscore.training.fit import FitResult, fit_and_evaluate


def test_recovers_true_structure(fitted: FitResult, funnel: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    holdout = fitted.split.holdout
    truth = funnel[1].set_index("lead_id").loc[holdout["lead_id"]]
    pred = fitted.scorer.predict(holdout)
    true_auc = roc_auc_score(holdout["won"], truth["p_won_true"])
    assert fitted.metrics["won_roc_auc"] > true_auc - 0.05
    assert fitted.metrics["accepted_roc_auc"] > roc_auc_score(holdout["accepted"], truth["p_accept_true"]) - 0.05
    assert np.corrcoef(pred["p_won"], truth["p_won_true"])[0, 1] > 0.8
    assert fitted.metrics["won_ece"] < 0.04 and fitted.metrics["accepted_ece"] < 0.05
    assert 0.7 < fitted.metrics["revenue_predicted_over_actual"] < 1.3


def test_beats_baselines(fitted: FitResult) -> None:
    m = fitted.metrics
    for head in ("accepted", "won"):
        assert m[f"{head}_roc_auc"] > m[f"baseline_rate_{head}_roc_auc"] + 0.2
        assert m[f"{head}_roc_auc"] > m[f"baseline_logreg_{head}_roc_auc"]
        assert m[f"{head}_brier"] < m[f"baseline_rate_{head}_brier"]


def test_calibration_reported_before_and_after(fitted: FitResult) -> None:
    for head in ("accepted", "won"):
        assert {f"{head}_ece", f"{head}_ece_uncalibrated", f"{head}_brier", f"{head}_brier_uncalibrated"} <= set(
            fitted.metrics
        )


def test_score_grade_and_ordering(fitted: FitResult) -> None:
    holdout = fitted.split.holdout
    pred = fitted.scorer.predict(holdout)
    assert pred["score"].between(0, 100).all()
    assert set(pred["grade"]) <= set("ABCD")
    a_floor = GRADE_THRESHOLDS["A"]
    assert (pred.loc[pred["score"] >= a_floor, "grade"] == "A").all()
    assert (pred.loc[pred["score"] < GRADE_THRESHOLDS["C"], "grade"] == "D").all()
    order = np.argsort(pred["expected_revenue"].to_numpy())
    assert (np.diff(pred["score"].to_numpy()[order]) >= 0).all()
    train_scores = fitted.scorer.predict(fitted.split.train)["score"]
    assert 0.15 < (train_scores >= a_floor).mean() < 0.25


def test_field_order_never_changes_scores(fitted: FitResult) -> None:
    holdout = fitted.split.holdout
    shuffled = holdout[list(reversed(holdout.columns))].assign(extra_col="x")
    pd.testing.assert_frame_equal(fitted.scorer.predict(holdout), fitted.scorer.predict(shuffled))


def test_pred_contrib_agrees_with_shap(fitted: FitResult) -> None:
    scorer = fitted.scorer
    X = scorer.transformer_.transform(fitted.split.holdout.head(50))
    booster = scorer.heads_["won"]
    ours = booster.predict(X, pred_contrib=True)[:, :-1]
    theirs = shap.TreeExplainer(booster).shap_values(X)
    np.testing.assert_allclose(ours, np.asarray(theirs).reshape(ours.shape), atol=1e-6)
    per_column = scorer.contributions(X, "won")
    assert list(per_column.columns) == scorer.transformer_.feature_names_in_
    margin = booster.predict(X, raw_score=True)
    base = booster.predict(X, pred_contrib=True)[:, -1]
    unscaled = per_column.sum(axis=1).to_numpy() / scorer.reason_scale("won")
    np.testing.assert_allclose(unscaled + base, margin, atol=1e-6)


def test_reasons_follow_known_drivers(fitted: FitResult) -> None:
    holdout = fitted.split.holdout
    demo = holdout[holdout["demo_requested"] == "yes"].head(40)
    reasons = fitted.scorer.explain(demo, k=3)
    demo_reasons = [r for row in reasons for r in row if r.feature == "demo_requested" and r.head == "won"]
    assert demo_reasons, "demo request should be a top reason for leads that asked for one"
    assert all(r.contribution > 0 for r in demo_reasons)
    assert all(r.text.startswith("Demo requested: yes —") and "raises win likelihood" in r.text for r in demo_reasons)
    for row in reasons:
        heads = {r.head for r in row}
        assert heads == {"accepted", "won"}
        assert len(row) <= 12


def test_reasons_say_unseen_and_missing(fitted: FitResult) -> None:
    lead = fitted.split.holdout.head(1).copy()
    lead["seniority"] = "Chief Vibes Officer"
    lead["company_size"] = np.nan
    reasons = fitted.scorer.explain(lead, k=20)[0]
    seniority = [r for r in reasons if r.feature == "seniority"]
    size = [r for r in reasons if r.feature == "company_size"]
    assert seniority and all(r.status == "unseen" and "(not seen in training)" in r.text for r in seniority)
    assert size and all(r.status == "missing" and "not given" in r.text for r in size)


def test_heads_only_for_configured_outcomes(leads: pd.DataFrame) -> None:
    config = parse_config_text(CONFIG_TOML.replace('won = "won"\n', "").replace('revenue = "revenue"\n', ""))
    config = config.model_copy(
        update={
            "data": config.data.model_copy(update={"exclude": ("email", "full_name", "sales_status", "won", "revenue")})
        }
    )
    result = fit_and_evaluate(leads, config)
    assert set(result.scorer.heads_) == {"accepted"}
    pred = result.scorer.predict(leads.head(20))
    assert pred["p_won"].isna().all() and pred["expected_revenue"].isna().all()
    assert result.scorer.value_basis_ == "p_accept"


def test_save_load_roundtrip(fitted: FitResult, tmp_path: Path) -> None:
    save_scorer(fitted.scorer, tmp_path / "m", fitted.metrics)
    loaded, manifest = load_scorer(tmp_path / "m")
    holdout = fitted.split.holdout
    pd.testing.assert_frame_equal(loaded.predict(holdout), fitted.scorer.predict(holdout))
    assert manifest["metrics"]["won_roc_auc"] == fitted.metrics["won_roc_auc"]
    assert manifest["schema"]["id_column"] == "lead_id"
    assert {"lightgbm", "scikit-learn", "pandas", "numpy"} <= set(manifest["versions"])


def test_load_rejects_truncated_model(fitted: FitResult, tmp_path: Path) -> None:
    save_scorer(fitted.scorer, tmp_path / "m")
    path = tmp_path / "m" / MODEL_FILE
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ModelLoadError, match="truncated or altered"):
        load_scorer(tmp_path / "m")


def test_load_rejects_other_library_version(fitted: FitResult, tmp_path: Path) -> None:
    save_scorer(fitted.scorer, tmp_path / "m")
    manifest_path = tmp_path / "m" / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text())
    manifest["versions"]["lightgbm"] = "3.0.0"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match=r"trained with lightgbm 3\.0\.0"):
        load_scorer(tmp_path / "m")


def test_load_rejects_schema_mismatch(fitted: FitResult, tmp_path: Path) -> None:
    save_scorer(fitted.scorer, tmp_path / "m")
    manifest_path = tmp_path / "m" / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text())
    manifest["schema"]["features"] = manifest["schema"]["features"][:-1]
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match="schema does not match"):
        load_scorer(tmp_path / "m")


def test_load_rejects_old_format_and_says_to_retrain(fitted: FitResult, tmp_path: Path) -> None:
    """Format 1 pickles name the modules before they moved under `leadscore.*`: refuse with a clear step."""
    save_scorer(fitted.scorer, tmp_path / "m")
    manifest_path = tmp_path / "m" / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = 1
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match=r"model format 1 was written by an older leadscore.*retrain it"):
        load_scorer(tmp_path / "m")


def test_load_rejects_non_model_dir(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not a leadscore model"):
        load_scorer(tmp_path)
    shutil.rmtree(tmp_path)


def test_fit_returns_self(fitted: FitResult, demo_config: LeadscoreConfig) -> None:
    split = fitted.split
    scorer = LeadScorer(demo_config.data, demo_config.training)
    assert scorer.fit(split.train, split.valid) is scorer
    assert hasattr(scorer, "heads_") and hasattr(scorer, "score_reference_")


def test_drift_reference_flags_shifted_population(fitted: FitResult) -> None:
    from leadscore.datasets.synthetic import generate_funnel
    from leadscore.models.drift import psi_status

    scorer = fitted.scorer
    reference = scorer.drift_reference_
    same, _ = generate_funnel(4000, seed=7)
    shifted, _ = generate_funnel(4000, seed=7, shift=True)
    results = {}
    for name, frame in (("same", same), ("shifted", shifted)):
        X = scorer.transformer_.transform(frame)
        bins = reference.bin_matrix(X)
        assert bins.shape == (len(frame), len(scorer.transformer_.feature_names_in_))
        results[name] = reference.psi(bins, scorer.predict_matrix(X)["score"].to_numpy(float))
    assert all(psi_status(v) == "stable" for k, v in results["same"].items() if k != "score"), results["same"]
    assert psi_status(results["shifted"]["company_size"]) != "stable"
    assert psi_status(results["shifted"]["campaign"]) != "stable"
    assert psi_status(results["shifted"]["seniority"]) == "stable"
    assert psi_status(results["shifted"]["country"]) == "stable"


def test_scikit_learn_conventions_clone_and_feature_names(fitted: FitResult) -> None:
    """`clone` gives an unfitted LeadScorer with the same parameters; the transformer names its output columns."""
    scorer = fitted.scorer
    copy = clone(scorer)
    assert copy.get_params() == scorer.get_params() and not hasattr(copy, "heads_")
    assert copy.set_params(labels={"web_visits": "Visits"}).labels == {"web_visits": "Visits"}
    with pytest.raises(ValueError, match="no parameter"):
        copy.set_params(num_leaves=3)
    names = scorer.transformer_.get_feature_names_out()
    assert list(names) == scorer.transformer_.feature_names_out_ and len(names) == scorer.heads_["won"].num_feature()

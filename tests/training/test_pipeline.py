"""`leadscore train` end to end against a throwaway MLflow store: run contents, registry, gate, alarms."""

import os
import signal
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from typer.testing import CliRunner

from leadscore.cli.main import app
from leadscore.datasets.synthetic import CONFIG_TOML
from leadscore.features.config import LeadscoreConfig
from leadscore.features.validation import DataValidationError
from leadscore.models.registry import load_model
from leadscore.training import tracking
from leadscore.training.evaluate import LeakageError
from leadscore.training.pipeline import TrainResult, train

runner = CliRunner()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory, funnel: tuple[pd.DataFrame, pd.DataFrame]) -> Path:
    root = tmp_path_factory.mktemp("pipeline")
    leads = funnel[0].sort_values("created_at", kind="stable")
    leads.to_csv(root / "leads.csv", index=False)
    leads.head(8000).to_csv(root / "older.csv", index=False)  # the first champion never sees the newest leads
    (root / "leadscore.toml").write_text(CONFIG_TOML)
    return root


@pytest.fixture(scope="module")
def store(workdir: Path) -> str:
    return f"sqlite:///{workdir / 'mlflow.db'}"


@pytest.fixture(scope="module")
def first(workdir: Path, store: str) -> TrainResult:
    return train(workdir / "older.csv", workdir / "leadscore.toml", store, "leads-test")


def _config(workdir: Path, name: str, exclude: str) -> Path:
    path = workdir / name
    path.write_text(CONFIG_TOML.replace('exclude = ["email", "full_name", "sales_status"]', f"exclude = {exclude}"))
    return path


@pytest.mark.slow
def test_first_version_is_champion_with_full_run(first: TrainResult, store: str) -> None:
    assert first.version == "1" and first.decision.alias == "champion"
    client = mlflow.MlflowClient(store)
    run = client.get_run(first.run_id)
    assert run.info.status == "FINISHED"
    metrics = run.data.metrics
    for key in (
        "won_roc_auc",
        "won_pr_auc",
        "won_log_loss",
        "won_brier",
        "won_ece",
        "won_lift_top10",
        "won_capture_top20",
        "accepted_roc_auc",
        "revenue_capture_top20",
        "revenue_predicted_total",
        "revenue_actual_total",
        "baseline_logreg_won_roc_auc",
        "baseline_rate_won_roc_auc",
    ):
        assert key in metrics, key
    params = run.data.params
    assert params["data.id"] == "lead_id" and int(params["train_rows"]) > int(params["holdout_rows"]) > 0
    assert run.data.tags["data_hash"] and run.data.tags["git_commit"]
    for head in ("accepted", "won"):  # which family won the head, and by what validation AUC
        assert run.data.tags[f"head.{head}.family"].startswith(("trees (", "linear: validation AUC"))
    artifacts = {a.path for a in client.list_artifacts(first.run_id, "plots")}
    assert {
        "plots/reliability.png",
        "plots/gain_lift.png",
        "plots/feature_importance.png",
        "plots/shap_won.png",
        "plots/shap_accepted.png",
    } <= artifacts
    top = {a.path for a in client.list_artifacts(first.run_id)}
    assert {"schema.json", "config", "metrics.json"} <= top
    assert str(client.get_model_version_by_alias("leads-test", "champion").version) == "1"


def test_registered_model_loads_and_scores(
    first: TrainResult, store: str, funnel: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    loaded = load_model("models:/leads-test@champion", store)
    assert loaded.version == "1" and loaded.alias == "champion"
    leads = funnel[0].head(10)
    pd.testing.assert_frame_equal(loaded.scorer.predict(leads), first.fit.scorer.predict(leads))
    pyfunc = mlflow.pyfunc.load_model("models:/leads-test/1")
    assert pyfunc.metadata.signature is not None
    schema = first.fit.scorer.transformer_.schema_
    numeric = {f.name: float for f in schema.features if f.kind == "numeric"}
    out = pyfunc.predict(leads[schema.names].astype(numeric))
    assert list(out.columns) == ["score", "grade", "p_accept", "p_won", "expected_revenue"]


def _with_training(workdir: Path, name: str, training: str, exclude: str | None = None) -> Path:
    path = _config(workdir, name, exclude) if exclude else workdir / name
    text = path.read_text() if exclude else CONFIG_TOML
    path.write_text(text + f"\n[training]\n{training}\n")
    return path


@pytest.mark.slow
def test_worse_model_becomes_challenger(first: TrainResult, workdir: Path, store: str) -> None:
    # Underfitted on purpose; the wide baseline tolerance lets it pass the quality gate, so the champion decides.
    weak = _with_training(workdir, "weak.toml", "num_leaves = 2\nnum_boost_round = 3\nbaseline_tolerance = 0.5")
    second = train(workdir / "leads.csv", weak, store, "leads-test")
    assert second.decision.alias == "challenger", second.decision.reason
    assert second.decision.challenger_metric < second.decision.champion_metric
    client = mlflow.MlflowClient(store)
    assert str(client.get_model_version_by_alias("leads-test", "champion").version) == "1"
    assert str(client.get_model_version_by_alias("leads-test", "challenger").version) == second.version
    reason = client.get_model_version("leads-test", second.version).tags["challenger_reason"]
    assert "worse than the champion" in reason and "holdout leads neither was fitted on" in reason


@pytest.mark.slow
def test_model_worse_than_logistic_regression_is_not_promoted(workdir: Path, store: str) -> None:
    weak = _with_training(workdir, "weak-first.toml", "num_leaves = 2\nnum_boost_round = 3")
    result = train(workdir / "leads.csv", weak, store, "weak-first")
    assert result.decision.alias is None, "even a first version faces the quality gate"
    assert "logistic regression" in result.decision.reason
    client = mlflow.MlflowClient(store)
    assert not client.get_registered_model("weak-first").aliases
    assert "not promoted" in client.get_model_version("weak-first", result.version).tags["not_promoted_reason"]
    forced = train(workdir / "leads.csv", weak, store, "weak-first", promote_anyway=True)
    assert forced.decision.alias == "champion" and "promoted by request" in forced.decision.reason


@pytest.mark.slow
def test_leaky_champion_loses_to_honest_challenger(workdir: Path, store: str) -> None:
    leaky = _config(workdir, "with-leak.toml", '["email", "full_name"]')  # sales_status is recorded after the fact
    champion = train(workdir / "older.csv", leaky, store, "leak-test", allow_leaky=True)
    assert champion.decision.alias == "champion"
    honest = train(workdir / "leads.csv", workdir / "leadscore.toml", store, "leak-test")
    assert honest.decision.alias == "champion", honest.decision.reason
    assert "['sales_status']" in honest.decision.reason and "no fair opponent" in honest.decision.reason


@pytest.mark.slow
def test_interrupt_while_registering_finishes_registration(
    workdir: Path, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tracking.record_decision

    def interrupted(model_name: str, decision: object, quality: object) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C between "Created version N" and the alias
        record(model_name, decision, quality)

    monkeypatch.setattr(tracking, "record_decision", interrupted)
    result = train(workdir / "older.csv", workdir / "leadscore.toml", store, "interrupt-test")
    assert result.interrupted and result.decision.alias == "champion"
    alias = mlflow.MlflowClient(store).get_model_version_by_alias("interrupt-test", "champion")
    assert str(alias.version) == result.version


def test_leak_alarm_names_column_and_leaves_registry(first: TrainResult, workdir: Path, store: str) -> None:
    leaky = _config(workdir, "leaky.toml", '["email", "full_name"]')
    client = mlflow.MlflowClient(store)
    before = len(client.search_model_versions("name='leads-test'"))
    with pytest.raises(LeakageError, match="'sales_status'"):
        train(workdir / "leads.csv", leaky, store, "leads-test")
    assert len(client.search_model_versions("name='leads-test'")) == before
    failed = client.search_runs(
        [client.get_experiment_by_name(tracking.EXPERIMENT).experiment_id], "attributes.status = 'FAILED'"
    )
    assert failed, "the interrupted run is marked FAILED"


def test_bad_data_fails_before_registering(
    workdir: Path, store: str, funnel: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    bad = funnel[0].copy()
    bad.loc[3, "won"] = 5
    bad.to_csv(workdir / "bad.csv", index=False)
    client = mlflow.MlflowClient(store)
    champion = client.get_model_version_by_alias("leads-test", "champion").version
    with pytest.raises(DataValidationError, match="'won'"):
        train(workdir / "bad.csv", workdir / "leadscore.toml", store, "leads-test")
    assert client.get_model_version_by_alias("leads-test", "champion").version == champion


@pytest.mark.slow
def test_cli_train_score_list_promote(
    first: TrainResult, workdir: Path, store: str, funnel: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    result = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(workdir / "leads.csv"),
            "--config",
            str(workdir / "leadscore.toml"),
            "--tracking-uri",
            store,
            "--model-name",
            "cli-test",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "run id:" in result.output and "@champion" in result.output and "ROC-AUC" in result.output
    assert "trees per head (registered model): accepted " in result.output
    assert "ranks leads by expected revenue" in result.output and "calibrated probability" in result.output
    new = funnel[0].tail(200).drop(columns=["accepted", "won"])
    new.to_csv(workdir / "new.csv", index=False)
    out = workdir / "scores.csv"
    result = runner.invoke(
        app,
        [
            "score",
            "--data",
            str(workdir / "new.csv"),
            "--out",
            str(out),
            "--model",
            "models:/cli-test@champion",
            "--tracking-uri",
            store,
        ],
    )
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out)
    assert list(scores.columns) == ["lead_id", "score", "grade", "p_accept", "p_won", "expected_revenue", "reasons"]
    assert len(scores) == 200 and scores["reasons"].str.contains("likelihood").all()
    result = runner.invoke(app, ["models", "list", "--model-name", "cli-test", "--tracking-uri", store])
    assert result.exit_code == 0 and "champion" in result.output
    result = runner.invoke(app, ["models", "promote", "9", "--model-name", "cli-test", "--tracking-uri", store])
    assert result.exit_code == 2
    result = runner.invoke(app, ["models", "promote", "1", "--model-name", "cli-test", "--tracking-uri", store])
    assert result.exit_code == 0
    reason = mlflow.MlflowClient(store).get_model_version("cli-test", "1").tags["champion_reason"]
    assert reason == "manual promotion"


def test_cli_score_missing_columns(
    first: TrainResult, workdir: Path, store: str, funnel: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    funnel[0].head(50).drop(columns=["seniority"]).to_csv(workdir / "partial.csv", index=False)
    args = [
        "score",
        "--data",
        str(workdir / "partial.csv"),
        "--out",
        str(workdir / "p.csv"),
        "--model",
        "models:/leads-test@champion",
        "--tracking-uri",
        store,
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "seniority" in result.output and not (workdir / "p.csv").exists()
    result = runner.invoke(app, [*args, "--allow-missing"])
    assert result.exit_code == 0 and "seniority" in result.output
    assert len(pd.read_csv(workdir / "p.csv")) == 50


def test_cli_errors_are_clear(workdir: Path, store: str, demo_config: LeadscoreConfig) -> None:
    result = runner.invoke(
        app, ["validate", "--data", str(workdir / "nope.csv"), "--config", str(workdir / "leadscore.toml")]
    )
    assert result.exit_code == 2 and "does not exist" in result.output and "Traceback" not in result.output
    result = runner.invoke(
        app,
        [
            "score",
            "--data",
            str(workdir / "leads.csv"),
            "--out",
            str(workdir / "x.csv"),
            "--model",
            "models:/no-such-model@champion",
            "--tracking-uri",
            store,
        ],
    )
    assert result.exit_code == 2 and "leadscore train" in result.output
    result = runner.invoke(
        app, ["validate", "--data", str(workdir / "leads.csv"), "--config", str(workdir / "leadscore.toml")]
    )
    assert result.exit_code == 0 and "10000 rows" in result.output


@pytest.mark.slow
def test_model_name_from_config_drives_train_and_score(workdir: Path, store: str) -> None:
    named = workdir / "named.toml"
    named.write_text(CONFIG_TOML + '\n[model]\nname = "named-test"\n')
    args = ["--data", str(workdir / "older.csv"), "--config", str(named), "--tracking-uri", store]
    result = runner.invoke(app, ["train", *args])
    assert result.exit_code == 0, result.output
    assert "models:/named-test/1 -> @champion" in result.output
    out = workdir / "named-scores.csv"
    result = runner.invoke(app, ["score", *args, "--out", str(out), "--reasons", "0"])
    assert result.exit_code == 0, result.output
    assert "models:/named-test/1 (@champion)" in result.output and out.exists()
    pd.read_csv(workdir / "older.csv").head(20).drop(columns=["seniority"]).to_csv(workdir / "gap.csv", index=False)
    gap = ["score", "--data", str(workdir / "gap.csv"), "--config", str(named), "--tracking-uri", store]
    result = runner.invoke(app, [*gap, "--out", str(workdir / "gap-scores.csv")])
    assert result.exit_code == 2 and "models:/named-test/1" in result.output and "--allow-missing" in result.output
    result = runner.invoke(app, ["plan", "--revenue-target", "1M", *args])
    assert result.exit_code == 0, result.output
    assert "models:/named-test/1 (@champion)" in result.output, "plan uses [model].name, not models:/leadscore"


def test_retrain_without_acceptance_column_is_a_config_error(workdir: Path, store: str) -> None:
    from leadscore.features.config import ConfigError

    won_only = workdir / "won-only.toml"
    won_only.write_text(CONFIG_TOML.replace('accepted = "accepted"\n', ""))
    with pytest.raises(ConfigError, match=r"\[data\]\.accepted"):
        train(workdir / "older.csv", won_only, store, "won-only", feedback_url=f"sqlite:///{workdir / 'fb.db'}")


@pytest.mark.slow
def test_plain_mlflow_pyfunc_scores_a_csv_as_leadscore_score_does(
    first: TrainResult, workdir: Path, store: str
) -> None:
    """The ecosystem's own door: `mlflow.pyfunc.load_model(...).predict(pd.read_csv(...))` takes the file as
    pandas reads it (ints, floats with blanks, 0/1 columns, text) and gives `leadscore score`'s numbers."""
    leads = pd.read_csv(workdir / "older.csv").tail(300)
    leads.to_csv(workdir / "tail.csv", index=False)
    mlflow.set_tracking_uri(store)
    predicted = mlflow.pyfunc.load_model("models:/leads-test/1").predict(pd.read_csv(workdir / "tail.csv"))
    out = workdir / "tail-scores.csv"
    result = runner.invoke(
        app,
        ["score", "--data", str(workdir / "tail.csv"), "--model", "models:/leads-test/1", "--tracking-uri", store,
         "--out", str(out), "--reasons", "0"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    scored = pd.read_csv(out)
    assert predicted["score"].tolist() == scored["score"].tolist()
    for column in ("p_accept", "p_won", "expected_revenue"):  # the CSV holds 6 significant digits
        assert predicted[column].to_numpy() == pytest.approx(scored[column].to_numpy(), rel=1e-5)


@pytest.mark.slow
def test_run_and_version_read_well_in_mlflow(first: TrainResult, store: str) -> None:
    """A named run with its training data as a dataset input, each booster in the LightGBM flavor, and the
    version's description carrying the gate verdict and headline metrics."""
    client = mlflow.MlflowClient(store)
    run = client.get_run(first.run_id)
    assert run.info.run_name.startswith("train leads-test on older.csv")
    (dataset,) = run.inputs.dataset_inputs
    assert dataset.dataset.name == "older.csv" and dataset.dataset.digest
    logged = client.search_logged_models([run.info.experiment_id])
    models = {m.name for m in logged if m.source_run_id == run.info.run_id}
    assert {"model", "booster-accepted", "booster-won"} <= models
    description = client.get_model_version("leads-test", first.version).description
    assert "champion" in description and "passed its quality gate" in description and "won: holdout AUC" in description

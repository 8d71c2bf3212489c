"""`leadscore monitor`: PSI of recorded traffic against the model's reference, live calibration, verdict."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine
from typer.testing import CliRunner

from leadscore.cli.main import app
from leadscore.datasets.synthetic import generate_funnel
from leadscore.features.config import LeadscoreConfig
from leadscore.models.artifact import save_scorer
from leadscore.models.registry import LoadedModel, load_model
from leadscore.monitoring.monitor import monitor
from leadscore.records.database import Database
from leadscore.records.feedback import FeedbackStore
from leadscore.records.migrate import migrate
from leadscore.records.tables import ScoredLead
from leadscore.training.fit import fit_and_evaluate


@pytest.fixture(scope="module")
def model(
    tmp_path_factory: pytest.TempPathFactory, funnel: tuple[pd.DataFrame, pd.DataFrame], demo_config: LeadscoreConfig
) -> LoadedModel:
    path = tmp_path_factory.mktemp("monitor") / "model"
    save_scorer(fit_and_evaluate(funnel[0], demo_config).scorer, path)
    return load_model(str(path))


def _record(url: str, model: LoadedModel, leads: pd.DataFrame, when: datetime) -> pd.DataFrame:
    """Write traffic rows the way the service does: bins and score, no raw values."""
    scorer = model.scorer
    X = scorer.transformer_.transform(leads)
    scores = scorer.predict_matrix(X)
    bins = scorer.drift_reference_.bin_matrix(X)
    rows = pd.DataFrame(
        {
            "lead_id": leads["lead_id"].to_numpy(),
            "scored_at": when,
            "model_name": model.key[0],
            "model_version": model.key[1],
            "score": scores["score"].to_numpy(),
            "grade": scores["grade"].to_numpy(),
            "fields_json": "{}",
            "p_accept": scores["p_accept"].to_numpy(),
            "bins": [",".join(map(str, r)) for r in bins],
        }
    )
    engine = create_engine(url)
    migrate(engine, None)
    rows.to_sql(ScoredLead.__tablename__, engine, if_exists="append", index=False)
    return rows


def _decide(url: str, model: LoadedModel, rows: pd.DataFrame, seed: int) -> None:
    """Sales decisions drawn from the model's own p_accept: a calibrated model sees no alarm."""
    store = FeedbackStore(Database(url, model.key[0]))
    rng = np.random.default_rng(seed)
    for lead_id, p in zip(rows["lead_id"], rows["p_accept"], strict=True):
        decision = "accept" if rng.random() < p else "reject"
        store.record(dict(event_id=f"e-{lead_id}", lead_id=lead_id, decision=decision, rep_id="r"), "local")


@pytest.mark.slow
def test_stable_traffic_no_retrain(tmp_path: Path, model: LoadedModel) -> None:
    url = f"sqlite:///{tmp_path / 'service.db'}"
    leads, _ = generate_funnel(3000, seed=11)
    rows = _record(url, model, leads, datetime.now(UTC))
    _decide(url, model, rows, 0)
    report = monitor(model, url, url)
    assert report.rows == 3000
    assert report.status["seniority"] == "stable" and report.status["company_size"] == "stable"
    assert report.ece is not None and report.ece < 0.05
    assert len(report.calibration) >= 8 and report.calibration["leads"].sum() == 3000
    assert not report.recommend_retrain, report.reasons


def test_shifted_traffic_recommends_retrain(tmp_path: Path, model: LoadedModel) -> None:
    url = f"sqlite:///{tmp_path / 'service.db'}"
    old, _ = generate_funnel(2000, seed=12)
    _record(url, model, old, datetime.now(UTC) - timedelta(days=30))
    shifted, _ = generate_funnel(3000, seed=13, shift=True)
    _record(url, model, shifted.assign(lead_id="S" + shifted["lead_id"]), datetime.now(UTC))
    report = monitor(model, url, url, since=datetime.now(UTC) - timedelta(days=7))
    assert report.rows == 3000
    assert report.status["company_size"] != "stable" and report.status["campaign"] != "stable"
    assert report.status["seniority"] == "stable" and report.status["country"] == "stable"
    drifted = [name for name, status in report.status.items() if status == "drift"]
    assert report.recommend_retrain and drifted and all(name in " ".join(report.reasons) for name in drifted)


def test_cli_monitor_prints_table(tmp_path: Path, model: LoadedModel) -> None:
    url = f"sqlite:///{tmp_path / 'service.db'}"
    shifted, _ = generate_funnel(2000, seed=14, shift=True)
    _record(url, model, shifted, datetime.now(UTC))
    result = CliRunner().invoke(
        app,
        [
            "monitor",
            "--model",
            model.uri,
            "--store",
            url,
            "--since",
            "7d",
            "--no-log",
            "--tracking-uri",
            f"sqlite:///{tmp_path / 'mlflow.db'}",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "company_size" in result.output and "drift" in result.output and "retrain recommended" in result.output
    strict = CliRunner().invoke(app, ["monitor", "--model", model.uri, "--store", url, "--no-log", "--fail-on-drift"])
    assert strict.exit_code == 4 and "retrain recommended" in strict.output  # a scheduler sees it
    bad = CliRunner().invoke(app, ["monitor", "--model", model.uri, "--store", url, "--since", "soon", "--no-log"])
    assert bad.exit_code == 2 and "--since" in bad.output


def test_few_decisions_do_not_trigger_a_retrain(tmp_path: Path, model: LoadedModel) -> None:
    url = f"sqlite:///{tmp_path / 'service.db'}"
    leads, _ = generate_funnel(500, seed=15)
    rows = _record(url, model, leads, datetime.now(UTC))
    store = FeedbackStore(Database(url, model.key[0]))
    for lead_id in rows.nlargest(5, "p_accept")["lead_id"]:  # the model's surest leads, all rejected
        store.record(dict(event_id=f"x-{lead_id}", lead_id=lead_id, decision="reject", rep_id="r"), "local")
    report = monitor(model, url, url)
    assert report.ece is not None and report.ece > 0.3
    assert not report.recommend_retrain


def test_monitor_runs_land_in_their_own_experiment(tmp_path: Path, model: LoadedModel) -> None:
    """A monitoring check is logged to the store given, in `leadscore-monitoring`, not among training runs."""
    url = f"sqlite:///{tmp_path / 'service.db'}"
    leads, _ = generate_funnel(300, seed=16)
    _record(url, model, leads, datetime.now(UTC))
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = CliRunner().invoke(app, ["monitor", "--model", model.uri, "--store", url, "--tracking-uri", store])
    assert result.exit_code == 0, result.output
    client = mlflow.MlflowClient(store)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert client.get_experiment(run.info.experiment_id).name == "leadscore-monitoring"
    assert run.data.tags["kind"] == "monitor"


def test_a_model_without_an_acceptance_head_says_calibration_is_not_measured(
    tmp_path: Path, funnel: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    from leadscore.datasets.synthetic import CONFIG_TOML
    from leadscore.features.config import parse_config_text

    won_only = parse_config_text(
        CONFIG_TOML.replace('accepted = "accepted"\n', "").replace('"sales_status"]', '"sales_status", "accepted"]')
    )
    path = tmp_path / "won-only"
    save_scorer(fit_and_evaluate(funnel[0].head(4000), won_only).scorer, path)
    model = load_model(str(path))
    url = f"sqlite:///{tmp_path / 'service.db'}"
    leads, _ = generate_funnel(300, seed=16)
    rows = _record(url, model, leads, datetime.now(UTC))
    store = FeedbackStore(Database(url, model.key[0]))
    for lead_id in rows["lead_id"].head(50):
        store.record(dict(event_id=f"w-{lead_id}", lead_id=lead_id, decision="accept", rep_id="r"), "local")
    report = monitor(model, url, url)
    assert report.ece is None and report.calibration.empty
    assert report.calibration_note is not None and "no acceptance head" in report.calibration_note
    result = CliRunner().invoke(app, ["monitor", "--model", str(path), "--store", url, "--no-log"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "no acceptance head" in text and "nan" not in text and "ECE" not in text

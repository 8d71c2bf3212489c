"""MLflow: where runs go, how a model is logged and registered, and the champion/challenger gate."""

from __future__ import annotations

import subprocess
import tempfile
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import lightgbm as lgb
import mlflow
import mlflow.data
import mlflow.lightgbm
import pandas as pd
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema
from mlflow.types.schema import AnyType

from leadscore import settings
from leadscore.features.schema import FeatureSchema
from leadscore.models.registry import ARTIFACT_KEY, GATE_TAG, LoadedModel, gate_note, load_model
from leadscore.models.scorer import LeadScorer
from leadscore.training.gate import CHAMPION, GateDecision, QualityCheck

EXPERIMENT = "leadscore"
"""Training runs; campaign reports and monitoring runs have experiments of their own, so comparing training
runs in the MLflow UI is not crowded by them."""
REPORTS_EXPERIMENT = "leadscore-reports"
MONITORING_EXPERIMENT = "leadscore-monitoring"
PIP_REQUIREMENTS = (
    "lightgbm", "scikit-learn", "scipy", "pandas", "numpy", "pandera", "pydantic", "mlflow", "pyarrow",
)  # fmt: skip
PYFUNC_SCRIPT = """\
# leadscore's MLflow model (models from code: no pickled Python object in the logged model)
from mlflow.models import set_model

from leadscore.models.registry import LeadScorerPyfunc

set_model(LeadScorerPyfunc())
"""


def configure(tracking_uri: str | None = None, experiment: str = EXPERIMENT) -> str:
    """Point MLflow at the store and make sure the experiment exists (artifacts next to a local store)."""
    uri = tracking_uri or settings.tracking_uri()
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(experiment) is None:
        location = None
        if uri.startswith("sqlite:///"):
            location = (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").as_uri()
        mlflow.create_experiment(experiment, artifact_location=location)
    mlflow.set_experiment(experiment)
    return uri


def git_commit() -> str:
    """The checkout's commit, or "unknown" outside git."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def signature_for(schema: FeatureSchema) -> ModelSignature:
    """Every feature column, optional and of type Any: the model reads each column as training did (numbers
    written as text, yes/no, blanks) and reports what it cannot read. MLflow's own types would refuse what
    `pd.read_csv` gives for the same columns: int64 where a column is `double`, float64 (blanks) where it is
    `long` or `string`."""
    inputs = Schema([ColSpec(AnyType(), f.name, required=False) for f in schema.features])
    outputs = Schema(
        [ColSpec("long", "score"), ColSpec("string", "grade")]
        + [ColSpec("double", c) for c in ("p_accept", "p_won", "expected_revenue")]
    )
    return ModelSignature(inputs=inputs, outputs=outputs)


def input_example(frame: pd.DataFrame, schema: FeatureSchema) -> pd.DataFrame:
    """One row of each feature column's most common training value: shows the columns and how values are
    written, without logging any one lead's data."""
    return pd.DataFrame({name: frame[name].mode(dropna=True).iloc[:1].to_list() or [None] for name in schema.names})


def log_model(
    scorer: LeadScorer, artifact_dir: Path, model_name: str, example: pd.DataFrame | None = None
) -> ModelVersion:
    """Log the pyfunc model (from code, around our artifact) with signature, an input example and pinned
    requirements, log each booster in MLflow's LightGBM flavor too, and register the pyfunc model."""
    with tempfile.TemporaryDirectory(prefix="leadscore-pyfunc-") as tmp:
        script = Path(tmp) / "leadscore_model.py"
        script.write_text(PYFUNC_SCRIPT, encoding="utf-8")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(script),
            artifacts={ARTIFACT_KEY: str(artifact_dir)},
            signature=signature_for(scorer.transformer_.schema_),
            input_example=example,
            pip_requirements=[f"{p}=={version(p)}" for p in PIP_REQUIREMENTS],
        )
    for head, booster in scorer.heads_.items():
        if isinstance(booster, lgb.Booster):  # a head the linear candidate won has no booster
            mlflow.lightgbm.log_model(booster, name=f"booster-{head}")
    return mlflow.register_model(info.model_uri, model_name)


def run_name(model_name: str, data_path: str | Path) -> str:
    """A training run's name in the MLflow UI: model, data file and time, instead of MLflow's random words."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    return f"train {model_name} on {Path(str(data_path).rstrip('/')).name} {stamp}"


def log_training_data(raw: pd.DataFrame, data_path: str | Path) -> None:
    """The lead file as an MLflow dataset input of the run: its source, digest and column schema (no rows)."""
    name = Path(str(data_path).rstrip("/")).name
    mlflow.log_input(mlflow.data.from_pandas(raw, source=str(data_path), name=name), context="training")


def _model_card(decision: GateDecision, quality: QualityCheck) -> str:
    """The version's description: what the gates said and the holdout numbers behind it."""
    verdict = f"champion: {decision.reason}" if decision.alias else f"not promoted: {decision.reason}"
    gate = "passed its quality gate" if quality.passed else "FAILED its quality gate: " + "; ".join(quality.failures)
    return "\n".join([f"leadscore {version('leadscore')} model", verdict, gate, *quality.lines])


def current_champion(model_name: str) -> LoadedModel | None:
    """The champion, or None when the name has no champion yet."""
    client = mlflow.MlflowClient()
    try:
        client.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException:
        return None
    return load_model(f"models:/{model_name}@{CHAMPION}")


def set_alias(model_name: str, version_: str, alias: str, reason: str) -> None:
    """Move an alias and record on the version who moved it, when and why."""
    client = mlflow.MlflowClient()
    client.set_registered_model_alias(model_name, alias, version_)
    client.set_model_version_tag(
        model_name, version_, f"{alias}_since", datetime.now(UTC).isoformat(timespec="seconds")
    )
    client.set_model_version_tag(model_name, version_, f"{alias}_reason", reason)


def record_decision(model_name: str, decision: GateDecision, quality: QualityCheck) -> None:
    """Record the quality gate's verdict on the version (a tag, which travels with it: a hand promotion later
    shows it, and a short model card as its description), then move the alias the gate chose, or, for a model
    not promoted, record why."""
    client = mlflow.MlflowClient()
    verdict = "passed" if quality.passed else "failed: " + "; ".join(quality.failures)
    client.set_model_version_tag(model_name, decision.version, GATE_TAG, verdict)
    client.update_model_version(model_name, decision.version, description=_model_card(decision, quality))
    if decision.alias:
        set_alias(model_name, decision.version, decision.alias, decision.reason)
    else:
        client.set_model_version_tag(model_name, decision.version, "not_promoted_reason", decision.reason)


def promote(model_name: str, version_: str, tracking_uri: str | None = None) -> str | None:
    """Manual override: make `version_` the champion, recorded on the version as manual. Returns the gate note
    (`models.registry.gate_note`) when the version failed its quality gate."""
    configure(tracking_uri)
    mv = mlflow.MlflowClient().get_model_version(model_name, version_)
    set_alias(model_name, version_, CHAMPION, "manual promotion")
    return gate_note(mv.tags or {}, CHAMPION)


def list_versions(model_name: str, metric: str, tracking_uri: str | None = None) -> list[dict[str, str]]:
    """Registered versions with their aliases and gate metric, newest first."""
    configure(tracking_uri)
    client = mlflow.MlflowClient()
    try:
        aliases = client.get_registered_model(model_name).aliases
    except MlflowException:
        return []
    rows = []
    for mv in client.search_model_versions(f"name='{model_name}'"):
        run = client.get_run(mv.run_id) if mv.run_id else None
        value = run.data.metrics.get(metric) if run else None
        rows.append(
            {
                "version": str(mv.version),
                "aliases": ", ".join(sorted(a for a, v in aliases.items() if str(v) == str(mv.version))),
                metric: "" if value is None else f"{value:.4f}",
                "created": datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC).strftime("%Y-%m-%d %H:%M"),
                "run_id": mv.run_id or "",
            }
        )
    return sorted(rows, key=lambda r: int(r["version"]), reverse=True)

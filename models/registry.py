"""Find and load a `LeadScorer` by URI: a local artifact directory or an MLflow registry URI.

The MLflow model is a pyfunc wrapper (so `mlflow models serve` and the UI work), but scoring code loads
our own artifact out of it: pyfunc's input conversion mangles pandas categoricals, our transformer does not.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.pyfunc import PythonModel, PythonModelContext

from leadscore.features.responses import PREFIX
from leadscore.models.artifact import ModelLoadError, load_scorer
from leadscore.models.scorer import LeadScorer
from leadscore.models.uri import DEFAULT_MODEL_URI

ARTIFACT_KEY = "leadscorer"
GATE_TAG = "quality_gate"
"""Version tag `leadscore train` writes: "passed", or "failed: <why>"."""
_OLD_GATE_TAG, _OLD_GATE_PREFIX = "not_promoted_reason", "registered, not promoted: "
_REGISTRY_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))?$")


class LeadScorerPyfunc(PythonModel):
    """MLflow pyfunc face of the artifact: `predict` returns the scores frame."""

    def load_context(self, context: PythonModelContext) -> None:
        """Load our artifact from the logged model's files."""
        self.scorer, self.manifest = load_scorer(Path(context.artifacts[ARTIFACT_KEY]))

    def predict(self, context: PythonModelContext, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        """Score raw leads. A model that reads responses needs their behavioural columns in the input: scoring
        without them would silently differ from `leadscore score`."""
        leads = pd.DataFrame(model_input)
        behaviour = [name for name in self.scorer.transformer_.schema_.names if name.startswith(PREFIX)]
        if self.scorer.responses is not None and not leads.columns.intersection(behaviour).size:
            raise ValueError(
                f"this model reads response events ({len(behaviour)} behavioural columns such as "
                f"'{behaviour[0]}'); the leads given have none of them. Score with `leadscore score` (which reads "
                "[responses] from leadscore.toml), or add the columns with "
                "`LeadScorer.with_responses(leads, responses, as_of)` first"
            )
        return self.scorer.predict(leads, allow_missing=True)


def _artifact_path(model_dir: Path) -> str:
    """Where the pyfunc model keeps our artifact, as its MLmodel file records it."""
    try:
        mlmodel = Model.load(str(model_dir / "MLmodel"))
        return mlmodel.flavors["python_function"]["artifacts"][ARTIFACT_KEY]["path"]
    except (OSError, KeyError, TypeError, MlflowException):
        raise ModelLoadError(f"{model_dir} is not a leadscore MLflow model (no '{ARTIFACT_KEY}' artifact)") from None


@dataclass(frozen=True)
class LoadedModel:
    """A scorer with where it came from, for `GET /model` and CLI output."""

    scorer: LeadScorer
    manifest: dict[str, Any]
    uri: str
    name: str | None = None
    version: str | None = None
    alias: str | None = None
    run_id: str | None = None
    gate_note: str | None = None
    """Set when this version failed its quality gate (`gate_note`): every command and page says so."""

    @property
    def key(self) -> tuple[str, str]:
        """(name, version) under which the service's database keeps this model's rows: the registry's, or for
        a model directory `local:<absolute directory>` and `local-<first 12 hex digits of its checksum>`, so
        two directories never share rows and a directory rewritten in place is a new version of one model."""
        if self.name is not None and self.version is not None:
            return self.name, self.version
        return f"local:{Path(self.uri).resolve()}", f"local-{self.manifest['sha256'][:12]}"

    @property
    def label(self) -> str:
        """How commands name the model they used: `models:/NAME/VERSION (@ALIAS)` or the directory."""
        if self.name is None:
            return f"model directory {self.uri}"
        return f"models:/{self.name}/{self.version}" + (f" (@{self.alias})" if self.alias else "")

    @property
    def described(self) -> str:
        """The label with the gate note, for written reports that outlive the console."""
        return self.label + (f" ({self.gate_note})" if self.gate_note else "")


def gate_note(tags: Mapping[str, str], alias: str | None) -> str | None:
    """"promoted by hand; failed its quality gate: <why>" for a version that failed the gate, else None. Only a
    person can put an alias on such a version, so one reached through an alias was promoted by hand."""
    verdict = tags.get(GATE_TAG, "")
    if verdict.startswith("failed: "):
        why = verdict.removeprefix("failed: ")
    elif _OLD_GATE_TAG in tags:  # versions registered before the gate tag: only a failed gate left them without
        why = tags[_OLD_GATE_TAG].removeprefix(_OLD_GATE_PREFIX)
    else:
        return None
    return ("promoted by hand; " if alias else "") + f"failed its quality gate: {why}"


def _not_found(client: mlflow.MlflowClient, uri: str, name: str, alias: str | None, err: MlflowException) -> str:
    """Why `uri` names no model, and what to do: train one, or promote a version that exists but has no alias
    (`alias` None: the URI named a version number)."""
    where = f"no model at {uri} in the MLflow store {mlflow.get_tracking_uri()}"
    try:
        versions = sorted(int(mv.version) for mv in client.search_model_versions(f"name='{name}'"))
    except MlflowException:
        versions = []
    if versions and alias is not None:
        return (
            f"{where}: {name} has {len(versions)} version(s) but none is @{alias} (one that fails "
            f"its quality gate is registered, not promoted; `leadscore models list --model-name {name}` shows "
            f"them). Promote one with `leadscore models promote {versions[-1]} --model-name {name}`."
        )
    return f"{where}: {err.message.splitlines()[0].rstrip('.')}. Train one with `leadscore train` (or `make run`)."


def load_model(uri: str = DEFAULT_MODEL_URI, tracking_uri: str | None = None) -> LoadedModel:
    """Load from a local directory or `models:/NAME@ALIAS` / `models:/NAME/VERSION`; errors say what to do."""
    local = Path(uri)
    if local.is_dir():
        scorer, manifest = load_scorer(local)
        return LoadedModel(scorer, manifest, uri)
    match = _REGISTRY_URI.match(uri)
    if not match:
        raise ModelLoadError(f"model URI {uri!r} is neither a model directory nor models:/NAME@ALIAS or models:/NAME/N")
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient()
    name, alias, number = match["name"], match["alias"], match["version"]
    try:
        if number:
            mv = client.get_model_version(name, number)
        else:
            mv = client.get_model_version_by_alias(name, alias or "champion")
    except MlflowException as err:
        raise ModelLoadError(_not_found(client, uri, name, None if number else alias or "champion", err)) from None
    with tempfile.TemporaryDirectory(prefix="leadscore-model-") as tmp:
        try:
            path = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{mv.version}", dst_path=tmp)
        except MlflowException as err:
            raise ModelLoadError(f"could not download {uri}: {err.message.splitlines()[0]}") from None
        scorer, manifest = load_scorer(Path(path) / _artifact_path(Path(path)))
    note = gate_note(mv.tags or {}, alias or (None if number else "champion"))
    return LoadedModel(scorer, manifest, uri, name, str(mv.version), alias, mv.run_id, note)

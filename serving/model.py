"""The champion the service scores with, and how it is swapped for a new one without downtime.

A request reads `ModelHolder.current` once and uses that `ServingModel` to the end, so replacing the
reference (one assignment, atomic in Python) lets in-flight requests finish on the old model while new
ones get the new model. A reload that fails leaves the reference untouched.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import mlflow

from leadscore.models.registry import LoadedModel, load_model
from leadscore.serving.rules import rule_fields
from leadscore.serving.schemas import FeatureInfo, ModelInfo
from leadscore.serving.settings import Settings
from leadscore.serving.validation import LeadChecker

logger = logging.getLogger("bentoml.leadscore")


@dataclass(frozen=True)
class ServingModel:
    """A loaded model plus what requests need from it; immutable, so sharing it across threads is safe."""

    loaded: LoadedModel
    checker: LeadChecker
    loaded_at: datetime

    @property
    def name(self) -> str:
        """The model's name in the service's database (`LoadedModel.key`); fixed for the service's life, as
        a reload loads the same URI."""
        return self.loaded.key[0]

    @property
    def version(self) -> str:
        """Registry version, or `local-<checksum prefix>` for a model loaded from a directory."""
        return self.loaded.key[1]

    def info(self) -> ModelInfo:
        """What `GET /model` shows."""
        manifest = self.loaded.manifest
        schema = self.loaded.scorer.transformer_.schema_
        return ModelInfo(
            name=self.loaded.name,
            version=self.version,
            alias=self.loaded.alias,
            uri=self.loaded.uri,
            run_id=self.loaded.run_id,
            gate_note=self.loaded.gate_note,
            trained_at=manifest.get("trained_at"),
            loaded_at=self.loaded_at,
            heads=sorted(self.loaded.scorer.heads_),
            trees=self.loaded.scorer.trees(),
            grade_thresholds=self.loaded.scorer.grade_thresholds_,
            metrics=manifest.get("metrics", {}),
            history=manifest.get("history", []),
            id_column=schema.id_column,
            account_column=self.loaded.scorer.data.account,
            responses=asdict(spec) if (spec := self.loaded.scorer.responses) is not None else None,
            features=[
                FeatureInfo(name=f.name, kind=f.kind, categories=list(f.categories), non_negative=f.non_negative)
                for f in schema.features
            ],
        )


class ModelHolder:
    """Owns the current model; loads replacements off to the side and swaps them in."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._reload_lock = threading.Lock()
        self._stop = threading.Event()
        self.current = self._load()

    def _load(self) -> ServingModel:
        loaded = load_model(self.settings.model_uri, self.settings.tracking_uri)
        checker = LeadChecker(
            loaded.scorer.transformer_,
            self.settings.unknown_fields,
            rule_fields(self.settings.qualification),
            loaded.scorer.data,
        )
        return ServingModel(loaded, checker, datetime.now(UTC))

    def reload(self) -> tuple[ServingModel, ServingModel]:
        """Load the model at the configured URI and swap it in; returns (old, new).

        Raises `ModelLoadError` and keeps serving the old model if the new one cannot be loaded.
        """
        with self._reload_lock:
            old = self.current
            new = self._load()
            self.current = new
        logger.info("model swapped: version %s -> %s", old.version, new.version)
        return old, new

    def alias_moved(self) -> bool:
        """Whether the registry alias we serve now points at another version (cheap: no download)."""
        loaded = self.current.loaded
        if not (loaded.name and loaded.alias):
            return False
        client = mlflow.MlflowClient(tracking_uri=self.settings.tracking_uri)
        return str(client.get_model_version_by_alias(loaded.name, loaded.alias).version) != loaded.version

    def start_polling(self) -> None:
        """Every `reload_interval` seconds, reload if the alias moved (no-op when the interval is 0)."""
        if self.settings.reload_interval > 0:
            threading.Thread(target=self._poll, name="leadscore-alias-poll", daemon=True).start()

    def stop_polling(self) -> None:
        """Ask the polling thread to end; it exits within one interval."""
        self._stop.set()

    def _poll(self) -> None:
        while not self._stop.wait(self.settings.reload_interval):
            try:
                if self.alias_moved():
                    self.reload()
            except Exception as err:  # a registry hiccup must not end polling; the old model stays
                logger.warning("alias poll: keeping version %s: %s: %s", self.current.version, type(err).__name__, err)

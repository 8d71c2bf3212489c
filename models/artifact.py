"""Save and load a `LeadScorer` as a directory: a pickle plus a manifest with schema, versions and a checksum.

Loading refuses, with a message that says why, a model that is truncated or altered (checksum), written
by another artifact format, or fitted with LightGBM / scikit-learn versions other than the ones installed
(pickled estimators are not portable across them).
"""

from __future__ import annotations

import hashlib
import json
import pickle
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from leadscore.features.schema import FeatureSchema
from leadscore.models.scorer import LeadScorer

FORMAT_VERSION = 2
"""2: the pickle names classes under `leadscore.*` (format 1 named top-level `models.*`, `features.*`)."""
MODEL_FILE = "scorer.pkl"
MANIFEST_FILE = "manifest.json"
_PINNED = ("lightgbm", "scikit-learn")
_RECORDED = ("lightgbm", "scikit-learn", "pandas", "numpy", "leadscore")


class ModelLoadError(RuntimeError):
    """A model artifact that cannot be used here; the message says what is wrong and what to do."""


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape a fitted model."""
    return {name: version(name) for name in _RECORDED}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_scorer(
    scorer: LeadScorer,
    directory: Path,
    metrics: dict[str, float] | None = None,
    history: list[dict[str, Any]] | None = None,
) -> Path:
    """Write the artifact directory; `metrics` and `history` (outcome rates by month of the training leads)
    are stored so the service can show them."""
    directory.mkdir(parents=True, exist_ok=True)
    model_path = directory / MODEL_FILE
    with model_path.open("wb") as fh:
        pickle.dump(scorer, fh, protocol=pickle.HIGHEST_PROTOCOL)
    manifest = {
        "format_version": FORMAT_VERSION,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": library_versions(),
        "sha256": _sha256(model_path),
        "schema": scorer.transformer_.schema_.to_dict(),
        "heads": sorted(scorer.heads_),
        "grade_thresholds": scorer.grade_thresholds_,
        "value_basis": scorer.value_basis_,
        "metrics": metrics or {},
        "history": history or [],
    }
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return directory


def read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of an artifact directory, or a clear error."""
    path = Path(directory) / MANIFEST_FILE
    if not path.is_file():
        raise ModelLoadError(f"{directory} is not a leadscore model: {MANIFEST_FILE} is missing")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"{path} is unreadable or corrupt: {err}") from None


def load_scorer(directory: Path) -> tuple[LeadScorer, dict[str, Any]]:
    """Load and verify an artifact directory; returns the scorer and its manifest."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    written = manifest.get("format_version")
    if isinstance(written, int) and written < FORMAT_VERSION:
        raise ModelLoadError(
            f"model format {written} was written by an older leadscore whose modules had other names, so it "
            "cannot be loaded; retrain it with `leadscore train` (or `leadscore retrain`)"
        )
    if written != FORMAT_VERSION:
        raise ModelLoadError(
            f"model format {manifest.get('format_version')} is not supported (expected {FORMAT_VERSION}); retrain"
        )
    model_path = directory / MODEL_FILE
    if not model_path.is_file() or _sha256(model_path) != manifest.get("sha256"):
        raise ModelLoadError(f"{model_path} is missing, truncated or altered (checksum mismatch); retrain or re-copy")
    installed = library_versions()
    for name in _PINNED:
        trained = manifest["versions"].get(name)
        if trained != installed[name]:
            raise ModelLoadError(
                f"model was trained with {name} {trained} but {installed[name]} is installed; "
                f"install {name}=={trained} or retrain"
            )
    try:
        with model_path.open("rb") as fh:
            scorer = pickle.load(fh)
        matches = scorer.transformer_.schema_ == FeatureSchema.from_dict(manifest["schema"])
    except Exception as err:  # unpickling runs arbitrary code: anything can fail, each means "unusable"
        raise ModelLoadError(
            f"model {directory} cannot be loaded although its checksum matches ({type(err).__name__}): the file "
            "was written by something other than `leadscore train`; retrain it"
        ) from None
    if not matches:
        raise ModelLoadError(f"{directory}: the model's feature schema does not match its manifest; retrain")
    return scorer, manifest

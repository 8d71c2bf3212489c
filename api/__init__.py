"""leadscore: lead scoring for B2B revenue teams.

The Python API, for notebooks and jobs that already hold leads in pandas (the command line is `leadscore`):

    import leadscore
    model = leadscore.load_model("models:/leadscore@champion")   # or a model directory
    scores = leadscore.score(model, leads, reasons=2)              # id, score, grade, p_accept, p_won, ...

A model trained with `[responses]` also needs the lead's response events: `leadscore.read_responses(config)`
reads and validates them as training did. Each subpackage (`leadscore.features`, `leadscore.models`, ...)
lives in its own top-level folder of the project (README, "Where things live"); this folder (`api/`) holds
only the package itself. The functions import what they use when called, so `import leadscore` stays light.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from leadscore.models.uri import DEFAULT_MODEL_URI

if TYPE_CHECKING:
    import pandas as pd

    from leadscore.models.registry import LoadedModel

try:
    __version__ = version("leadscore")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__", "load_model", "read_responses", "score"]


def load_model(uri: str | Path = DEFAULT_MODEL_URI, tracking_uri: str | None = None) -> LoadedModel:
    """A model from a directory or the MLflow registry (`models:/NAME@ALIAS`, `models:/NAME/N`); its scorer is
    `.scorer`, a `LeadScorer`. `tracking_uri` defaults to MLFLOW_TRACKING_URI, else `.leadscore/mlflow.db`."""
    from leadscore import settings
    from leadscore.models.registry import load_model as load

    return load(str(uri), tracking_uri or settings.tracking_uri())


def read_responses(config: str | Path, path: str | Path | None = None) -> pd.DataFrame | None:
    """The validated response events named by `[responses]` of a leadscore.toml (or the file at `path`), as
    `leadscore score` reads them; None when the config has no `[responses]`."""
    from leadscore.datasets.files import load_config, load_responses

    return load_responses(load_config(Path(config)), Path(config), None if path is None else Path(path))


def score(
    model: LoadedModel,
    leads: pd.DataFrame,
    *,
    responses: pd.DataFrame | None = None,
    as_of: pd.Timestamp | None = None,
    reasons: int = 0,
) -> pd.DataFrame:
    """Score a frame of leads as `leadscore score` does: the id column, score, grade, p_accept, p_won,
    expected_revenue, and with `reasons` > 0 the top reasons per head and direction in words. Absent feature
    columns score as missing. A model that reads responses needs `responses` (see `read_responses`), counted
    strictly before `as_of` (default: now)."""
    import pandas as pd

    from leadscore.scoring.batch import score_chunk

    scorer = model.scorer
    if scorer.responses is not None:
        if responses is None:
            raise ValueError("this model reads response events: pass responses=leadscore.read_responses(config)")
        leads = scorer.with_responses(leads, responses, as_of or pd.Timestamp.now(tz="UTC"))
    return score_chunk(scorer, leads, allow_missing=True, reasons=reasons)[0]

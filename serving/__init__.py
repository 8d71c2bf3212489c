"""The BentoML scoring service the CRM calls (`leadscore.serving.service:LeadScoringService`).

May import marketing (campaign statistics), models and features; never training, datasets or the CLI.

Importing the package sets environment defaults before BentoML or MLflow read them: no usage tracking
or telemetry leaves the machine (leads are customer data), no download progress bars in server logs,
and BentoML keeps its state in the project's gitignored local-state directory instead of `~/bentoml`.
Explicit settings always win.
"""

import os
from pathlib import Path

STATE_DIR = Path(os.environ.get("LEADSCORE_HOME", ".leadscore")).resolve()
"""Local state (MLflow store, feedback database, BentoML home): LEADSCORE_HOME, else `.leadscore` in the
directory the service starts from (the same rule as training, so both find the same stores)."""

for _name, _value in {
    "BENTOML_DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "BENTOML_HOME": str(STATE_DIR / "bentoml"),
}.items():
    os.environ.setdefault(_name, _value)

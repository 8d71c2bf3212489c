"""The serving image's requirements (`make bento`): what the service imports, pinned to this environment, and
none of the training-only libraries."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bento_requirements.py"


def test_pins_the_serving_closure_to_this_environment_without_training_libraries() -> None:
    result = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120, check=True)
    pins = dict(line.split("==") for line in result.stdout.splitlines() if "==" in line)
    for name in ("bentoml", "mlflow", "lightgbm", "scikit-learn", "pandas", "numpy", "msgspec", "sqlalchemy"):
        assert pins.get(name) == version(name), name
    assert "uvicorn" in pins and "leadscore" not in pins  # bentoml needs it; the code is staged, not installed
    assert not {"shap", "dask", "distributed", "numba", "pytest", "playwright"} & set(pins)

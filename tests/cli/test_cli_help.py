"""`leadscore --help` and `leadscore CMD --help` load no ML framework or data library, so help is instant."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HEAVY = ("mlflow", "lightgbm", "sklearn", "shap", "bentoml", "dask", "distributed", "matplotlib", "scipy", "pandas")
COMMANDS = [
    [],
    ["demo-data"],
    ["validate"],
    ["train"],
    ["retrain"],
    ["score"],
    ["monitor"],
    ["plan"],
    ["route"],
    ["models", "list"],
    ["models", "promote"],
    ["report", "campaigns"],
    ["qualification", "check"],
]
SCRIPT = f"""
import sys
from leadscore.cli.main import app
for command in {COMMANDS!r}:
    try:
        app([*command, "--help"])
    except SystemExit as done:
        assert done.code == 0, (command, done.code)
print(",".join(sorted(m for m in {HEAVY!r} if m in sys.modules)))
"""


def test_help_imports_no_ml_framework() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "score" in result.stdout and "qualification" in result.stdout  # the help was printed
    loaded = result.stdout.splitlines()[-1]
    assert loaded == "", f"leadscore --help imported {loaded}"


def test_version_and_python_api_name_the_installed_version() -> None:
    """`leadscore --version`, `leadscore.__version__` and the package metadata agree; `import leadscore` loads no
    ML framework (its API imports what it uses when called)."""
    from importlib.metadata import version

    script = (
        "import sys, leadscore; print(leadscore.__version__); "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    imported = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert imported.stdout.splitlines() == [version("leadscore"), ""]
    command = [Path(sys.executable).parent / "leadscore", "--version"]
    cli = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert cli.returncode == 0 and cli.stdout.strip() == f"leadscore {version('leadscore')}", cli.stderr[-500:]

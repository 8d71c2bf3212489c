"""Messy real-world exports through `leadscore validate` and `leadscore train`, and failed training runs that
must leave the registry and champion untouched (issue: reliability and security)."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from leadscore.cli.common import ExitCode
from leadscore.cli.main import app
from leadscore.datasets.synthetic import generate_funnel
from leadscore.models.registry import load_model
from leadscore.training import fit, pipeline, tracking

runner = CliRunner()
RENAMED = {
    "company_size": "Company Size (#)",
    "demo_requested": "Demo requested?",
    "industry": 'Industry: "primary" [main]',
    "web_visits": "web visits, last 30d",
    "seniority": "Séniorité {level}",
}
CONFIG = """
[data]
id = "Lead ID"
created_at = "Created At"
campaign = "campaign"
channel = "channel"
accepted = "Accepted?"
won = "won"
revenue = "Revenue (EUR)"
exclude = ["email", "full_name", "sales_status"]
missing_values = ["", "N/A", "-", "Select", "--none--"]

[training]
min_rows = 200
min_positives = 20
num_boost_round = 40
"""


def messy_export(n: int = 1500, seed: int = 3) -> pd.DataFrame:
    """Generated leads as a CRM export writes them: punctuated headers, Yes/No and True/False, placeholders,
    thousands separators, mixed date formats (all text, as in a CSV)."""
    leads, _ = generate_funnel(n, seed)
    rng = np.random.default_rng(seed)
    out = leads.astype(object)
    out["company_size"] = [f"{v:,.0f}" if v == v else "N/A" for v in leads["company_size"]]
    out["demo_requested"] = leads["demo_requested"].map({"yes": "Yes", "no": "No"}).fillna("Select")
    out["won"] = leads["won"].map({1: "True", 0: "False"})
    out["accepted"] = leads["accepted"].map({1: "yes", 0: "no"})
    out["revenue"] = [f"{v:,.2f}" for v in leads["revenue"]]
    out.loc[rng.random(n) < 0.05, "industry"] = "-"
    out.loc[rng.random(n) < 0.05, "seniority"] = "--none--"
    stamps = pd.to_datetime(leads["created_at"])
    formats = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d"]
    out["created_at"] = [s.strftime(formats[i % 3]) for i, s in enumerate(stamps)]
    out.loc[out["seniority"] == "vp", "seniority"] = "vice-président"
    return out.rename(
        columns={**RENAMED, "lead_id": "Lead ID", "created_at": "Created At", "accepted": "Accepted?"}
        | {"revenue": "Revenue (EUR)"}
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("messy")
    (directory / "leadscore.toml").write_text(CONFIG)
    return directory


def invoke(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("name", "write"),
    [
        ("utf8.csv", lambda f, p: f.to_csv(p, index=False)),
        ("bom-semicolon.csv", lambda f, p: f.to_csv(p, index=False, sep=";", encoding="utf-8-sig")),
        ("windows-1252.csv", lambda f, p: f.to_csv(p, index=False, sep=";", encoding="cp1252")),
        ("tabs.tsv", lambda f, p: f.to_csv(p, index=False, sep="\t")),
        ("excel-unicode-text.txt", lambda f, p: f.to_csv(p, index=False, sep="\t", encoding="utf-16")),
    ],
)
def test_messy_exports_validate(workdir: Path, name: str, write: object) -> None:
    path = workdir / name
    write(messy_export(), path)  # type: ignore[operator]
    code, output = invoke("validate", "--data", path, "--config", workdir / "leadscore.toml")
    assert code == 0, output
    assert "1500 rows" in output and "Traceback" not in output


def test_validate_runs_the_leak_check(workdir: Path) -> None:
    """A closed-deal column filled with "False" for every lead but won ones: `validate` names it (exit 2)."""
    export = messy_export()
    export["Company on deal?"] = np.where(export["won"] == "True", "True", "False")
    path = workdir / "leaky.csv"
    export.to_csv(path, index=False)
    code, output = invoke("validate", "--data", path, "--config", workdir / "leadscore.toml")
    assert code == 2, output
    assert "leak check" in output and "'Company on deal?' (won)" in output and "Traceback" not in output


@pytest.mark.slow
def test_messy_export_trains_and_keeps_the_original_column_names(workdir: Path) -> None:
    path = workdir / "train.csv"
    messy_export().to_csv(path, index=False, sep=";", encoding="cp1252")
    store = f"sqlite:///{workdir / 'mlflow.db'}"
    code, output = invoke(
        "train", "--data", path, "--config", workdir / "leadscore.toml", "--tracking-uri", store, "--model-name", "m"
    )
    # 1,500 leads of a nearly linear funnel: logistic regression wins, so the gate registers without promoting,
    # and says so in the exit code too.
    assert code == ExitCode.NOT_PROMOTED == 3, output
    assert "not promoted" in output and "logistic regression" in output
    scorer = load_model("models:/m/1", store).scorer
    schema = scorer.transformer_.schema_
    assert set(RENAMED.values()) <= set(schema.names)
    assert schema[RENAMED["company_size"]].kind == "numeric"
    assert schema[RENAMED["demo_requested"]].kind == "boolean"
    assert "-" not in schema[RENAMED["industry"]].categories
    assert "vice-président" in schema[RENAMED["seniority"]].categories
    reasons = scorer.explain(messy_export(20).drop(columns=["email", "full_name", "sales_status"]), 3)
    assert {r.feature for lead in reasons for r in lead} <= set(schema.names)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("lead;won\nL1;yes\n".encode("utf-16"), "'Lead ID'"),
        (b"PK\x03\x04\x00\x01\x02\x03" * 100, "binary data"),
        (b"", "not a readable CSV"),
        (b"Lead ID,won\nL1,maybe\n", "won"),
    ],
)
def test_unreadable_exports_are_rejected_clearly(workdir: Path, content: bytes, message: str) -> None:
    path = workdir / "bad.csv"
    path.write_bytes(content)
    code, output = invoke("validate", "--data", path, "--config", workdir / "leadscore.toml")
    assert code == 2, output
    assert "error:" in output and message in output and "Traceback" not in output


def run_statuses(store: str) -> list[str]:
    client = mlflow.MlflowClient(store)
    experiment = client.get_experiment_by_name(tracking.EXPERIMENT)
    return [run.info.status for run in client.search_runs([experiment.experiment_id])]


@pytest.mark.slow
def test_interrupted_and_too_few_positives_runs_leave_the_registry_alone(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = workdir / "base.csv"
    messy_export().to_csv(path, index=False)
    store = f"sqlite:///{workdir / 'failures.db'}"
    config = workdir / "leadscore.toml"
    first = pipeline.train(path, config, store, "f", promote_anyway=True)
    client = mlflow.MlflowClient(store)

    def interrupt(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(fit, "holdout_metrics", interrupt)  # fit_and_evaluate lives in training.fit
        code, output = invoke("train", "--data", path, "--config", config, "--tracking-uri", store, "--model-name", "f")
    assert code == 130 and "nothing was registered" in output and "Traceback" not in output

    few = messy_export()
    few["won"] = "False"
    few.loc[few.index[few["Accepted?"] == "yes"][:5], "won"] = "True"
    few["Revenue (EUR)"] = "0"
    few.to_csv(workdir / "few.csv", index=False)
    code, output = invoke("train", "--data", workdir / "few.csv", "--config", config, "--tracking-uri", store)
    assert code == 2 and "only 5 positive 'won' outcomes" in output

    assert [str(v.version) for v in client.search_model_versions("name='f'")] == [first.version]
    assert str(client.get_model_version_by_alias("f", "champion").version) == first.version
    assert sorted(run_statuses(store)) == ["FAILED", "FAILED", "FINISHED"]

"""No CSV the CLI writes runs a formula when opened in a spreadsheet: ids, campaigns, accounts and owners
from users' files that start with `=`, `+`, `-`, `@`, tab or CR are escaped with a leading `'` (OWASP)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from leadscore.cli.main import app
from leadscore.datasets.files import FORMULA_START, write_csv
from leadscore.datasets.synthetic import JOURNEY_CONFIG_TOML, Journeys
from leadscore.models.artifact import save_scorer
from leadscore.training.fit import FitResult

runner = CliRunner()
ATTACKS = ['=HYPERLINK("http://evil.example","x")', "@SUM(1+1)*cmd|", "+cmd|' /C calc'!A0", "-2+3+cmd|"]


def _hostile(values: pd.Series) -> pd.Series:
    """Each value behind one of the attack prefixes (still distinct, so ids stay unique)."""
    prefixes = np.resize(np.array(ATTACKS, dtype=object), len(values))
    return pd.Series(prefixes + values.astype(str).to_numpy(object), index=values.index)


@pytest.fixture(scope="module")
def files(
    tmp_path_factory: pytest.TempPathFactory, journeys: Journeys, journey_fit: tuple[FitResult, pd.DataFrame]
) -> Path:
    """Journey leads and responses whose ids, campaigns, accounts and owners are formulas."""
    root = tmp_path_factory.mktemp("formulas")
    save_scorer(journey_fit[0].scorer, root / "model")
    leads = journeys.leads.tail(600).copy()
    ids = dict(zip(leads["lead_id"], _hostile(leads["lead_id"]), strict=True))
    campaigns = {c: f"={c}()" for c in journeys.responses["campaign"].unique()}
    leads = leads.assign(
        lead_id=leads["lead_id"].map(ids),
        campaign=leads["campaign"].map(lambda c: campaigns.get(c, f"={c}()")),
        account="@" + leads["account"],
        owner=np.resize(np.array(["-1+1+cmd|", "+owner", "ana"], dtype=object), len(leads)),
    )
    responses = journeys.responses[journeys.responses["lead_id"].isin(ids)]
    responses = responses.assign(lead_id=responses["lead_id"].map(ids), campaign=responses["campaign"].map(campaigns))
    leads.to_csv(root / "leads.csv", index=False)
    responses.to_csv(root / "responses.csv", index=False)
    (root / "leadscore.toml").write_text(JOURNEY_CONFIG_TOML)
    return root


def _assert_no_formula(path: Path) -> None:
    """Every cell starting with a formula character is a number; and escaped attacks did reach the file."""
    with path.open(newline="", encoding="utf-8") as fh:
        cells = [cell for row in csv.reader(fh) for cell in row]
    for cell in cells:
        if cell.startswith(FORMULA_START):
            float(cell)  # raises for anything but a number
    assert any(cell.startswith(("'=", "'@", "'+", "'-")) for cell in cells), path.name


def _run(*args: str) -> None:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output


def _common(files: Path, *command: str) -> list[str]:
    return [*command, "--data", str(files / "leads.csv"), "--model", str(files / "model")]


def test_score_escapes_formulas(files: Path, tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    config = ["--config", str(files / "leadscore.toml"), "--as-of", "2026-07-01"]
    _run(*_common(files, "score"), *config, "--reasons", "1", "--out", str(out))
    _assert_no_formula(out)
    assert set(pd.read_csv(out)["lead_id"]) == {"'" + i for i in pd.read_csv(files / "leads.csv")["lead_id"]}


def test_report_accounts_escapes_formulas(files: Path, tmp_path: Path) -> None:
    out = tmp_path / "accounts.csv"
    _run(*_common(files, "report", "accounts"), "--config", str(files / "leadscore.toml"), "--out", str(out))
    _assert_no_formula(out)


def test_report_campaigns_escapes_formulas_in_every_file(
    files: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    _run(*_common(files, "report", "campaigns"), "--config", str(files / "leadscore.toml"), "--out", str(tmp_path))
    written = sorted(tmp_path.glob("*.csv"))
    names = {p.name for p in written}
    assert {"campaigns.csv", "campaign_attribution.csv", "campaign_drivers.csv"} <= names, names
    for path in written:
        if path.name != "channels.csv":  # channels are the generator's own, no attack in them
            _assert_no_formula(path)


def test_route_escapes_formulas(files: Path, tmp_path: Path) -> None:
    out, data = tmp_path / "route.csv", tmp_path / "open.csv"
    pd.read_csv(files / "leads.csv").assign(accepted=None, won=None, revenue=None).to_csv(data, index=False)
    model = ["--data", str(data), "--model", str(files / "model")]
    _run("route", *model, "--capacity", "3", "--by", "owner", "--allow-missing", "--out", str(out))
    _assert_no_formula(out)
    assert {"'-1+1+cmd|", "'+owner", "ana"} == set(pd.read_csv(out)["owner"])


def test_write_csv_escapes_text_labels_and_index_but_keeps_numbers() -> None:
    frame = pd.DataFrame(
        {"id": ["=1+1", "-3", "+1.5e3", "-2+3", "\tx", "\rx", "a=b", None], "n": [-1.0, 2, -3, 4, 5, 6, 7, 8]},
        index=pd.Index(["@c", *"ccccccc"], name="=name"),
    ).rename(columns={"n": "-n"})
    rows = list(csv.reader(io.StringIO(write_csv(frame, lineterminator="\r\n"), newline="")))
    assert rows[0] == ["'=name", "id", "'-n"]
    assert [r[1] for r in rows[1:]] == ["'=1+1", "-3", "+1.5e3", "'-2+3", "'\tx", "'\rx", "a=b", ""]
    assert [r[2] for r in rows[1:]] == ["-1.0", "2.0", "-3.0", "4.0", "5.0", "6.0", "7.0", "8.0"]
    assert rows[1][0] == "'@c"


def test_report_accounts_out_through_a_dangling_symlink_creates_nothing(files: Path, tmp_path: Path) -> None:
    link = tmp_path / "accounts.csv"
    link.symlink_to(tmp_path / "nowhere" / "accounts.csv")
    args = [*_common(files, "report", "accounts"), "--config", str(files / "leadscore.toml"), "--out", str(link)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "symbolic link" in result.output, result.output
    assert not (tmp_path / "nowhere").exists()

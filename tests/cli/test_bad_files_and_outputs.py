"""`score` on files it cannot read and every `--out` through a dangling symlink: exit 2 with one line, no
traceback, and nothing created where the link points."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest_serving import train_model_dir
from typer.testing import CliRunner

from leadscore.cli.main import app
from leadscore.datasets.synthetic import CONFIG_TOML, generate_funnel

runner = CliRunner()


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model, its config and 200 leads, 50 of them open and each with an owner (for `route`)."""
    root = tmp_path_factory.mktemp("bad-files")
    train_model_dir(root / "model")
    leads = generate_funnel(200, seed=5)[0]
    leads.loc[leads.index[-50:], ["accepted", "won", "revenue"]] = None
    leads.assign(owner=["ana", "ben"] * 100).to_csv(root / "leads.csv", index=False)
    (root / "leadscore.toml").write_text(CONFIG_TOML)
    return root


def _fails_in_one_line(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def _score(work: Path, data: Path, out: Path) -> list[str]:
    return ["score", "--data", str(data), "--model", str(work / "model"), "--out", str(out), "--reasons", "0"]


@pytest.mark.parametrize(
    "nested",
    [
        pa.array([[1, 2]] * 200, type=pa.list_(pa.int64())),
        pa.array([{"a": "x"}] * 200, type=pa.struct([("a", pa.string())])),
        pa.array([[("k", 1)]] * 200, type=pa.map_(pa.string(), pa.int64())),
    ],
    ids=["list", "struct", "map"],
)
def test_score_and_validate_refuse_nested_parquet_columns(work: Path, tmp_path: Path, nested: pa.Array) -> None:
    table = pa.Table.from_pandas(pd.read_csv(work / "leads.csv").drop(columns="industry"), preserve_index=False)
    path = tmp_path / "nested.parquet"
    pq.write_table(table.append_column("industry", nested), path)
    _fails_in_one_line(_score(work, path, tmp_path / "o.csv"), "'industry' hold lists, structs or maps")
    validate = ["validate", "--data", str(path), "--config", str(work / "leadscore.toml")]
    _fails_in_one_line(validate, "'industry' hold lists, structs or maps")
    assert not (tmp_path / "o.csv").exists()


@pytest.fixture
def small_field_limit() -> Iterator[int]:
    """The csv module's field size limit lowered to 1000 characters (default 131072), restored after, so a
    field over it needs no 200 MB file."""
    old = csv.field_size_limit(1000)
    yield 1000
    csv.field_size_limit(old)


def test_score_refuses_a_field_over_the_csv_field_limit(work: Path, tmp_path: Path, small_field_limit: int) -> None:
    leads = pd.read_csv(work / "leads.csv")
    leads.loc[3, "industry"] = "x" * (small_field_limit + 1)
    path = tmp_path / "huge-field.csv"
    leads.to_csv(path, index=False)
    _fails_in_one_line(_score(work, path, tmp_path / "o.csv"), "line 5: field larger than field limit")


@pytest.fixture
def dangling(tmp_path: Path) -> tuple[Path, Path]:
    """(a symlink, the path it points to inside a folder that does not exist)."""
    target = tmp_path / "nowhere" / "deeper" / "out"
    link = tmp_path / "link"
    link.symlink_to(target)
    return link, target


@pytest.mark.parametrize("command", ["score", "route", "report campaigns", "demo-data"])
def test_out_through_a_dangling_symlink_creates_nothing(
    work: Path, dangling: tuple[Path, Path], command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    link, target = dangling
    data, model = ["--data", str(work / "leads.csv")], ["--model", str(work / "model")]
    args = {
        "score": [*data, *model],
        "route": [*data, *model, "--capacity", "3", "--by", "owner"],
        "report campaigns": [*data, *model, "--config", str(work / "leadscore.toml")],
        "demo-data": ["--n", "100"],
    }[command]
    _fails_in_one_line([*command.split(), *args, "--out", str(link)], "symbolic link")
    assert not target.parent.parent.exists()
    assert link.is_symlink()

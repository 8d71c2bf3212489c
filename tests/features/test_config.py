"""The leadscore.toml contract: typed, strict, and clear about what is wrong."""

from pathlib import Path

import pytest

from leadscore.datasets.files import load_config
from leadscore.features.config import ConfigError, parse_config_text

MINIMAL = '[data]\nid = "lead_id"\nwon = "won"\n'


def test_minimal_config_defaults() -> None:
    cfg = parse_config_text(MINIMAL)
    assert cfg.data.outcome_columns == {"won": "won"}
    assert cfg.data.created_at is None
    assert cfg.training.min_rows == 1000
    assert cfg.data.non_feature_columns == {"lead_id", "won"}


def test_unknown_key_is_named() -> None:
    with pytest.raises(ConfigError, match=r"\[data.colour\] unknown key"):
        parse_config_text(MINIMAL + 'colour = "red"\n')


def test_unknown_table_is_named() -> None:
    with pytest.raises(ConfigError, match=r"\[modelling\] unknown key"):
        parse_config_text(MINIMAL + "[modelling]\nx = 1\n")


def test_missing_id_is_named() -> None:
    with pytest.raises(ConfigError, match=r"\[data.id\] required key is missing"):
        parse_config_text('[data]\nwon = "won"\n')


def test_missing_data_table() -> None:
    with pytest.raises(ConfigError, match=r"\[data\] required key is missing"):
        parse_config_text("")


def test_needs_an_outcome() -> None:
    with pytest.raises(ConfigError, match="at least one outcome"):
        parse_config_text('[data]\nid = "lead_id"\n')


def test_column_with_two_roles() -> None:
    with pytest.raises(ConfigError, match=r"only one role.*won"):
        parse_config_text('[data]\nid = "lead_id"\naccepted = "won"\nwon = "won"\n')


def test_bad_toml_names_file() -> None:
    with pytest.raises(ConfigError, match=r"my\.toml is not valid TOML"):
        parse_config_text("[data\n", source="my.toml")


def test_out_of_range_training_value() -> None:
    with pytest.raises(ConfigError, match=r"\[training.holdout_fraction\]"):
        parse_config_text(MINIMAL + "[training]\nholdout_fraction = 0.9\n")


def test_load_config_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_load_config_reads_bom(tmp_path: Path) -> None:
    path = tmp_path / "leadscore.toml"
    path.write_text(MINIMAL, encoding="utf-8-sig")
    assert load_config(path).data.id == "lead_id"


def test_cli_shows_bracketed_key_names(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from leadscore.cli.main import app

    (tmp_path / "leadscore.toml").write_text(MINIMAL + 'colour = "red"\n')
    (tmp_path / "leads.csv").write_text("lead_id,won\n1,1\n")
    result = CliRunner().invoke(
        app, ["validate", "--data", str(tmp_path / "leads.csv"), "--config", str(tmp_path / "leadscore.toml")]
    )
    assert result.exit_code == 2
    assert "[data.colour] unknown key" in result.output

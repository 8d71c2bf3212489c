"""Every contract violation is reported at once, naming the column and example rows, never values."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadscore.datasets.files import DataFileError, load_table
from leadscore.datasets.synthetic import CONFIG_TOML
from leadscore.features.config import LeadscoreConfig, parse_config_text
from leadscore.features.validation import DataValidationError, check_rows, prepare_training_frame


def _errors(frame: pd.DataFrame, config: LeadscoreConfig) -> list[str]:
    with pytest.raises(DataValidationError) as info:
        prepare_training_frame(frame, config)
    return [str(p) for p in info.value.report.errors]


def test_clean_data_passes_and_coerces(leads: pd.DataFrame, demo_config: LeadscoreConfig) -> None:
    leads["demo_requested"] = leads["demo_requested"].str.upper()
    leads["accepted"] = leads["accepted"].map({0: "no", 1: "Yes"})
    prepared = prepare_training_frame(leads, demo_config)
    assert prepared.report.ok
    assert set(prepared.frame["accepted"].unique()) == {0.0, 1.0}
    assert prepared.frame["accepted"].sum() == (leads["accepted"] == "Yes").sum()
    assert pd.api.types.is_datetime64_any_dtype(prepared.frame["created_at"])


def test_missing_configured_column(leads: pd.DataFrame, demo_config: LeadscoreConfig) -> None:
    errors = _errors(leads.drop(columns=["won"]), demo_config)
    assert any("'won'" in e and "not found" in e for e in errors)


def test_duplicate_and_null_ids(leads: pd.DataFrame, demo_config: LeadscoreConfig) -> None:
    leads.loc[5, "lead_id"] = leads.loc[4, "lead_id"]
    leads.loc[7, "lead_id"] = None
    errors = _errors(leads, demo_config)
    assert any("'lead_id'" in e and "duplicate" in e and leads.loc[4, "lead_id"] in e for e in errors)
    assert any("'lead_id'" in e and "missing ids" in e and "row 8" in e for e in errors)


def test_outcome_not_binary_reports_rows(leads: pd.DataFrame, demo_config: LeadscoreConfig) -> None:
    leads["accepted"] = leads["accepted"].astype(object)
    leads.loc[[10, 11], "accepted"] = "maybe"
    errors = _errors(leads, demo_config)
    hit = [e for e in errors if "'accepted'" in e]
    assert hit and "2 rows" in hit[0] and leads.loc[10, "lead_id"] in hit[0]


def test_won_without_accepted(leads: pd.DataFrame, demo_config: LeadscoreConfig) -> None:
    row = leads.index[(leads["accepted"] == 0)][0]
    leads.loc[row, "won"] = 1
    errors = _errors(leads, demo_config)
    assert any("won=1 on a lead that was not accepted" in e and leads.loc[row, "lead_id"] in e for e in errors)


def test_negative_and_non_numeric_revenue(leads: pd.DataFrame, demo_config: LeadscoreConfig) -> None:
    won = leads.index[leads["won"] == 1]
    leads["revenue"] = leads["revenue"].astype(object)
    leads.loc[won[0], "revenue"] = -5.0
    leads.loc[won[1], "revenue"] = "lots"
    errors = _errors(leads, demo_config)
    assert any("'revenue'" in e and "negative" in e and leads.loc[won[0], "lead_id"] in e for e in errors)
    assert any("'revenue'" in e and "non-numeric" in e and leads.loc[won[1], "lead_id"] in e for e in errors)


def test_revenue_on_lost_lead(leads: pd.DataFrame, demo_config: LeadscoreConfig) -> None:
    lost = leads.index[leads["won"] == 0][0]
    leads.loc[lost, "revenue"] = 100.0
    errors = _errors(leads, demo_config)
    assert any("revenue > 0 on a lead that was not won" in e for e in errors)


def test_unparseable_created_at(leads: pd.DataFrame, demo_config: LeadscoreConfig) -> None:
    leads["created_at"] = leads["created_at"].astype(str)
    leads.loc[3, "created_at"] = "yesterday-ish"
    errors = _errors(leads, demo_config)
    assert any("'created_at'" in e and "unparseable" in e and leads.loc[3, "lead_id"] in e for e in errors)


def test_all_problems_reported_together(leads: pd.DataFrame, demo_config: LeadscoreConfig) -> None:
    leads.loc[1, "lead_id"] = leads.loc[0, "lead_id"]
    leads.loc[2, "accepted"] = 7
    leads.loc[leads.index[leads["won"] == 1][0], "revenue"] = -1.0
    errors = _errors(leads, demo_config)
    columns = {e.split("'")[1] for e in errors}
    assert {"lead_id", "accepted", "revenue"} <= columns


def test_empty_and_constant_columns_warn_and_drop(leads: pd.DataFrame, demo_config: LeadscoreConfig) -> None:
    leads["always_empty"] = np.nan
    leads["always_same"] = "x"
    prepared = prepare_training_frame(leads, demo_config)
    warned = " ".join(str(w) for w in prepared.report.warnings)
    assert "'always_empty'" in warned and "'always_same'" in warned
    assert "always_empty" not in prepared.frame.columns


def test_too_few_rows_and_positives_say_how_many(leads: pd.DataFrame, demo_config: LeadscoreConfig) -> None:
    errors = _errors(leads.head(300), demo_config)
    assert any("only 300 rows" in e and "at least 1000" in e for e in errors)
    assert any("'won'" in e and "positive" in e and "at least 100" in e for e in errors)


def test_pii_values_never_in_messages(leads: pd.DataFrame) -> None:
    config = parse_config_text(CONFIG_TOML.replace('exclude = ["email", "full_name", "sales_status"]', "exclude = []"))
    leads.loc[3, "accepted"] = 9
    leads.loc[3, "email"] = "secret.person@pii.example"
    with pytest.raises(DataValidationError) as info:
        prepare_training_frame(leads, config)
    assert "secret.person" not in str(info.value)


def test_load_table_errors(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="does not exist"):
        load_table(tmp_path / "none.csv")
    (tmp_path / "x.xlsx").write_text("x")
    with pytest.raises(DataFileError, match="unsupported file type"):
        load_table(tmp_path / "x.xlsx")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(DataFileError, match="not readable Parquet"):
        load_table(tmp_path / "bad.parquet")


def test_load_table_semicolon_bom_latin1(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes("lead_id;Ville;won\r\n1;Montréal;1\r\n2;Zürich;0\r\n".encode("cp1252"))
    frame = load_table(path)
    assert list(frame.columns) == ["lead_id", "Ville", "won"]
    assert frame.loc[0, "Ville"] == "Montréal"
    bom = tmp_path / "bom.csv"
    bom.write_text("lead_id,won\n1,1\n", encoding="utf-8-sig")
    assert list(load_table(bom).columns) == ["lead_id", "won"]


def test_created_at_is_one_utc_instant_whatever_the_file_wrote(
    tmp_path: Path, leads: pd.DataFrame, demo_config: LeadscoreConfig
) -> None:
    """Offsets mixed in one CSV column, no offset (read as UTC) and a Parquet column typed in another zone
    all give the same UTC instants, so splits and point-in-time features agree across exports."""
    leads = leads.head(4).copy()
    instants = pd.to_datetime(
        ["2026-03-01T22:30:00Z", "2026-03-02T03:15:00Z", "2026-03-02T23:59:00Z", "2026-03-03T00:00:00Z"], utc=True
    )
    written = ["2026-03-02T00:30:00+02:00", "2026-03-01T22:15:00-05:00", "2026-03-02T23:59:00Z", "2026-03-03 00:00:00"]
    csv = tmp_path / "leads.csv"
    leads.assign(created_at=written).to_csv(csv, index=False)
    parquet = tmp_path / "leads.parquet"
    leads.assign(created_at=instants.tz_convert("Europe/Berlin")).to_parquet(parquet)
    for path in (csv, parquet):
        frame, report = check_rows(load_table(path), demo_config)
        created = frame["created_at"]
        assert report.ok, report.errors
        assert str(created.dt.tz) == "UTC", path.name
        assert list(created) == list(instants), path.name


def test_open_leads_are_counted_not_errors(leads: pd.DataFrame, demo_config: LeadscoreConfig) -> None:
    outcomes = ["accepted", "won", "revenue"]
    leads[outcomes] = leads[outcomes].astype(float)
    leads.loc[leads.index[-50:], outcomes] = np.nan  # open: nothing known yet
    accepted_open = leads.index[(leads["accepted"] == 1)][:5]
    leads.loc[accepted_open, ["won", "revenue"]] = np.nan  # accepted, deal still open
    rejected = leads.index[(leads["accepted"] == 0)][:7]
    leads.loc[rejected, ["won", "revenue"]] = np.nan  # rejected by sales: a decided loss, not open
    prepared = prepare_training_frame(leads, demo_config)
    assert prepared.report.open_leads == 55 == int(prepared.open.sum())
    assert prepared.report.empty_outcomes == {"accepted": 50, "won": 62, "revenue": 62}
    assert len(prepared.decided) == len(leads) - 55
    assert (prepared.frame.loc[rejected, ["won", "revenue"]] == 0).all().all()
    assert prepared.decided[["won", "revenue"]].notna().all().all()


def test_an_unreadable_outcome_is_an_error_not_an_open_lead(leads: pd.DataFrame, demo_config: LeadscoreConfig) -> None:
    leads["won"] = leads["won"].astype(object)
    leads.loc[[3, 4], "won"] = "perhaps"
    leads.loc[[3, 4], "revenue"] = np.nan
    errors = _errors(leads, demo_config)
    assert any("'won'" in e and "not 0/1" in e and "2 rows" in e for e in errors)


def test_a_decided_lead_missing_an_outcome_is_an_error(leads: pd.DataFrame, demo_config: LeadscoreConfig) -> None:
    won = leads.index[leads["won"] == 1][0]
    leads["accepted"] = leads["accepted"].astype(float)
    leads.loc[won, "accepted"] = np.nan
    errors = _errors(leads, demo_config)
    assert any("'accepted'" in e and "decided" in e and leads.loc[won, "lead_id"] in e for e in errors)

"""Response events: the `[responses]` contract, their validation, and point-in-time behavioural features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadscore.datasets.files import load_responses
from leadscore.datasets.synthetic import DECISION_DAYS, Journeys
from leadscore.features.config import ConfigError, LeadscoreConfig, parse_config_text
from leadscore.features.responses import ResponsesConfig, ResponseSpec, response_features
from leadscore.features.validation import DataValidationError, late_responses, response_warnings, validate_responses
from leadscore.training.fit import with_behaviour

MINIMAL = '[data]\nid = "lead_id"\ncreated_at = "created_at"\nwon = "won"\n\n[responses]\npath = "r.csv"\n'
UTC = "UTC"


def _events(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    """A validated responses frame from (lead, time, campaign, type) tuples."""
    raw = pd.DataFrame(rows, columns=["lead_id", "timestamp", "campaign", "response_type"])
    return validate_responses(raw, ResponsesConfig(path="r.csv"))


SPEC = ResponseSpec(("webinar", "download"), (7, 30), 10.0, 14.0)


def test_unknown_key_in_responses_is_named() -> None:
    with pytest.raises(ConfigError, match=r"\[responses.half_life\] unknown key"):
        parse_config_text(MINIMAL + "half_life = 3\n")


def test_responses_need_created_at_and_sane_windows() -> None:
    with pytest.raises(ConfigError, match=r"needs \[data\]\.created_at"):
        parse_config_text(MINIMAL.replace('created_at = "created_at"\n', ""))
    with pytest.raises(ConfigError, match="windows_days"):
        parse_config_text(MINIMAL + "windows_days = [30, 30]\n")
    assert parse_config_text(MINIMAL).responses.windows_days == (7, 30, 90)


def test_account_is_a_role_never_a_feature() -> None:
    config = parse_config_text(MINIMAL.replace('won = "won"', 'won = "won"\naccount = "account"'))
    assert "account" in config.data.non_feature_columns


def test_validation_names_columns_and_events_never_values() -> None:
    raw = pd.DataFrame(
        {
            "event_id": ["e1", "e2", "e2", "e4"],
            "lead_id": ["L1", None, "L3", "L4"],
            "when": ["2026-01-01", "secret-2026-value", "2026-01-02", "2026-01-03"],
            "campaign": ["c", "c", "c", ""],
            "response_type": ["webinar"] * 4,
        }
    )
    config = ResponsesConfig(path="r.csv", event_id="event_id", timestamp="when")
    with pytest.raises(DataValidationError) as info:
        validate_responses(raw, config)
    errors = [str(p) for p in info.value.report.errors]
    assert any("'lead_id'" in e and "missing" in e and "e2" in e for e in errors)
    assert any("'when'" in e and "unparseable" in e and "e2" in e for e in errors)
    assert any("'campaign'" in e and "e4" in e for e in errors)
    assert any("'event_id'" in e and "duplicate" in e for e in errors)
    assert "secret-2026-value" not in str(info.value)
    with pytest.raises(DataValidationError, match=r"'channel'.*not found"):
        validate_responses(raw, ResponsesConfig(path="r.csv", channel="channel"))


def test_features_count_windows_types_recency_and_decay() -> None:
    events = _events(
        [
            ("L1", "2026-03-02", "a", "webinar"),
            ("L1", "2026-03-25", "b", "download"),
            ("L1", "2026-03-30", "b", "click"),
            ("L2", "2026-01-01", "a", "webinar"),
        ]
    )
    as_of = pd.Timestamp("2026-03-31", tz=UTC)
    out = response_features(pd.Series(["L1", "L2", "L3"]), as_of, events, SPEC)
    l1, l2, l3 = out.iloc[0], out.iloc[1], out.iloc[2]
    assert (l1["responses_7d"], l1["responses_30d"]) == (2, 3)
    assert (l1["responses_webinar_30d"], l1["responses_download_7d"]) == (1, 1)
    assert l1["responses_days_since_last"] == 1.0 and l1["responses_campaigns"] == 2
    assert l1["responses_engagement"] == pytest.approx(0.5 ** (1 / 10) + 0.5 ** (6 / 10) + 0.5 ** (29 / 10), abs=1e-3)
    assert l2["responses_30d"] == 0 and l2["responses_days_since_last"] == 89.0
    assert l3["responses_30d"] == 0 and np.isnan(l3["responses_days_since_last"]) and l3["responses_engagement"] == 0
    later = response_features(pd.Series(["L1"]), as_of + pd.Timedelta(days=20), events, SPEC).iloc[0]
    assert later["responses_engagement"] < l1["responses_engagement"]  # scores move as responses age
    assert SPEC.describe(l1) == "3 responses in the last 30 days, last one 1 day ago"
    assert SPEC.describe(l3) == "none yet"


def test_a_later_response_never_changes_a_training_row() -> None:
    """Point in time: a response at or after the as-of time (created_at + decision window) is invisible."""
    leads = pd.DataFrame(
        {"lead_id": ["L1", "L2"], "created_at": pd.to_datetime(["2026-03-01", "2026-03-10"], utc=True)}
    )
    before = _events([("L1", "2026-03-05", "a", "webinar"), ("L2", "2026-03-11", "b", "download")])
    after = _events(
        [
            ("L1", "2026-03-05", "a", "webinar"),
            ("L2", "2026-03-11", "b", "download"),
            ("L1", "2026-03-15", "c", "webinar"),  # exactly at created_at + 14 days: not before it
            ("L1", "2026-04-01", "c", "webinar"),
            ("L2", "2026-05-01", "d", "download"),
        ]
    )
    as_of = SPEC.training_as_of(leads["created_at"])
    pd.testing.assert_frame_equal(
        response_features(leads["lead_id"], as_of, before, SPEC),
        response_features(leads["lead_id"], as_of, after, SPEC),
    )


def test_generated_post_decision_responses_do_not_reach_training(
    journeys: Journeys, journey_config: LeadscoreConfig
) -> None:
    """The generator adds responses after the decision, more on won leads: a leak if any reached a row."""
    responses = validate_responses(journeys.responses, journey_config.responses)
    leads = journeys.leads.copy()
    created = leads.set_index("lead_id")["created_at"].dt.tz_localize(UTC)
    cut = responses["lead_id"].map(created) + pd.Timedelta(days=DECISION_DAYS)
    early = responses[responses["timestamp"] < cut]
    assert len(early) < len(responses)  # there were later responses to leave out
    full, spec = with_behaviour(leads, responses, journey_config)
    trimmed, _ = with_behaviour(leads, early.reset_index(drop=True), journey_config)
    pd.testing.assert_frame_equal(full[list(spec.columns)], trimmed[list(spec.columns)])


def _window_case(delays_days: list[float], window: float = 14.0) -> tuple[pd.DataFrame, pd.DataFrame, LeadscoreConfig]:
    """Two leads created on 2026-01-01 and one response each `delay` days later (alternating leads)."""
    config = parse_config_text(MINIMAL + f"decision_window_days = {window}\n")
    leads = pd.DataFrame({"lead_id": ["L1", "L2"], "created_at": pd.to_datetime(["2026-01-01"] * 2, utc=True)})
    start = pd.Timestamp("2026-01-01")
    rows = [(f"L{i % 2 + 1}", str(start + pd.Timedelta(days=d)), "c", "webinar") for i, d in enumerate(delays_days)]
    return _events(rows), leads, config


def test_a_window_most_responses_come_after_is_a_warning_with_the_measured_share() -> None:
    responses, leads, config = _window_case([1, 20, 30, 40])
    [warning] = late_responses(responses, leads, config)
    assert warning.column == "timestamp" and warning.count == 3
    assert "75% of the leads' responses" in warning.message and "(14 days, set in the config)" in warning.message
    assert "2026" not in str(warning)  # names rows, never values
    assert response_warnings(responses, leads, config) == [warning]


def test_a_window_that_sees_most_responses_says_nothing() -> None:
    responses, leads, config = _window_case([1, 2, 20])
    assert late_responses(responses, leads, config) == []
    responses, leads, config = _window_case([1, 20, 30, 40], window=60.0)
    assert late_responses(responses, leads, config) == []


def test_a_response_exactly_at_the_window_is_late_as_the_features_take_only_earlier_ones() -> None:
    responses, leads, config = _window_case([14, 14, 1])
    assert late_responses(responses, leads, config)[0].count == 2


def test_response_times_are_utc_instants_from_csv_offsets_and_zoned_parquet(tmp_path: Path) -> None:
    """Z, +02:00, -05:00 and no offset (read as UTC) in one CSV column, and a Parquet column typed in
    another zone, are the same instants: the same features at the same as-of time."""
    instant = pd.Timestamp("2026-03-30T23:30:00Z")
    written = ["2026-03-30T23:30:00Z", "2026-03-31T01:30:00+02:00", "2026-03-30T18:30:00-05:00", "2026-03-30 23:30"]
    raw = pd.DataFrame({"lead_id": ["L1", "L2", "L3", "L4"], "campaign": "a", "response_type": "webinar"})
    config = parse_config_text(MINIMAL)
    (tmp_path / "leadscore.toml").write_text(MINIMAL)
    raw.assign(timestamp=written).to_csv(tmp_path / "r.csv", index=False)
    from_csv = load_responses(config, tmp_path / "leadscore.toml")
    raw.assign(timestamp=instant.tz_convert("America/New_York")).to_parquet(tmp_path / "r.parquet")
    from_parquet = load_responses(config, tmp_path / "leadscore.toml", tmp_path / "r.parquet")
    as_of = pd.Timestamp("2026-03-31T00:00:00Z")
    for events in (from_csv, from_parquet):
        assert str(events["timestamp"].dt.tz) == "UTC" and (events["timestamp"] == instant).all()
        features = response_features(raw["lead_id"], as_of, events, SPEC)
        assert (features["responses_days_since_last"] == round(0.5 / 24, 2)).all()

"""Schema inference and the shared transformer: fixed order, unseen and missing values, no target use."""

import numpy as np
import pandas as pd
import pytest

from leadscore.features.coerce import to_number
from leadscore.features.config import LeadscoreConfig, parse_config_text
from leadscore.features.schema import OTHER, FeatureSchema, infer_kind, infer_schema
from leadscore.features.transform import LeadTransformer, MissingColumnsError


@pytest.fixture
def fitted(leads: pd.DataFrame, demo_config: LeadscoreConfig) -> LeadTransformer:
    return LeadTransformer(demo_config.data).fit(leads)


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["yes", "no", "Yes", None], "boolean"),
        (["True", "false", "TRUE"], "boolean"),
        ([True, False, None], "boolean"),
        ([0, 1, 1, 0], "numeric"),  # a count that training saw only as 0 and 1 is still a count
        (["0", "1", "1"], "numeric"),
        (["yes", "1", "0"], "boolean"),
        ([1.5, 2.0, np.nan], "numeric"),
        (["1,200", "35", " 7 "], "numeric"),
        (["2024-01-05", "2024-02-01 10:00", "03/04/2024"], "datetime"),
        (["DE", "FR", "US"], "categorical"),
    ],
)
def test_infer_kind(values: list[object], kind: str) -> None:
    assert infer_kind(pd.Series(values)) == kind


def test_to_number_separators_and_invalid() -> None:
    parsed, invalid = to_number(pd.Series(["1,234", "12", "abc", None]))
    assert parsed.iloc[0] == 1234 and parsed.iloc[1] == 12
    assert invalid.tolist() == [False, False, True, False]


def test_schema_roles_and_kinds(leads: pd.DataFrame, demo_config: LeadscoreConfig) -> None:
    schema = infer_schema(leads, demo_config.data)
    names = schema.names
    for role_column in ("lead_id", "created_at", "accepted", "won", "revenue", "email", "full_name", "sales_status"):
        assert role_column not in names
    assert schema["company_size"].kind == "numeric" and schema["company_size"].non_negative
    assert schema["demo_requested"].kind == "boolean"
    assert schema["seniority"].kind == "categorical" and "vp" in schema["seniority"].categories
    assert 0.05 < schema["company_size"].missing_share < 0.15
    assert FeatureSchema.from_dict(schema.to_dict()) == schema


def test_rare_categories_fold_into_other(leads: pd.DataFrame, demo_config: LeadscoreConfig) -> None:
    share = leads["industry"].value_counts(normalize=True)
    rare = share.index[share < 0.01][0]
    transformer = LeadTransformer(demo_config.data, rare_share=0.01).fit(leads)
    assert rare not in transformer.schema_.features[transformer.schema_.names.index("industry")].categories
    X = transformer.transform(leads[leads["industry"] == rare].head(3))
    column = transformer.feature_names_out_.index("industry")
    assert (X[:, column] == transformer.codes_["industry"][OTHER]).all()


def test_column_order_and_extra_columns_do_not_matter(fitted: LeadTransformer, leads: pd.DataFrame) -> None:
    base = fitted.transform(leads)
    shuffled = leads[list(reversed(leads.columns))].assign(unexpected_extra="zzz", another=1.0)
    np.testing.assert_array_equal(base, fitted.transform(shuffled))


def test_outcomes_are_not_read(fitted: LeadTransformer, leads: pd.DataFrame) -> None:
    base = fitted.transform(leads)
    np.testing.assert_array_equal(base, fitted.transform(leads.drop(columns=["accepted", "won", "revenue"])))


def test_unseen_missing_and_invalid_status(fitted: LeadTransformer, leads: pd.DataFrame) -> None:
    rows = leads.head(3).copy()
    rows["country"] = rows["country"].astype(object)
    rows.loc[rows.index[0], "country"] = "Atlantis"
    rows.loc[rows.index[1], "country"] = "N/A"
    rows["web_visits"] = rows["web_visits"].astype(object)
    rows.loc[rows.index[2], "web_visits"] = "lots"
    X, status = fitted.transform_with_status(rows)
    col = fitted.feature_names_out_.index("country")
    assert status["country"].tolist()[:2] == ["unseen", "missing"]
    assert X[0, col] == fitted.codes_["country"][OTHER]
    assert np.isnan(X[1, col])
    assert status.loc[rows.index[2], "web_visits"] == "invalid"
    assert np.isnan(X[2, fitted.feature_names_out_.index("web_visits")])


def test_missing_columns_error_or_allowed(fitted: LeadTransformer, leads: pd.DataFrame) -> None:
    partial = leads.drop(columns=["seniority", "web_visits"])
    with pytest.raises(MissingColumnsError, match="seniority") as info:
        fitted.transform(partial)
    assert set(info.value.columns) == {"seniority", "web_visits"}
    X, status = fitted.transform_with_status(partial, allow_missing=True)
    assert np.isnan(X[:, fitted.feature_names_out_.index("seniority")]).all()
    assert (status["web_visits"] == "missing").all()


def test_datetime_features_expand(leads: pd.DataFrame) -> None:
    config = parse_config_text('[data]\nid = "lead_id"\nwon = "won"\n')
    frame = leads[["lead_id", "won", "web_visits"]].assign(last_seen=leads["created_at"].astype(str))
    transformer = LeadTransformer(config.data).fit(frame)
    assert transformer.schema_["last_seen"].kind == "datetime"
    assert transformer.feature_names_out_[-2:] == ["last_seen__epoch_days", "last_seen__dow"]
    assert transformer.sources_[-2:] == ["last_seen", "last_seen"]
    assert transformer.transform(frame).shape == (len(frame), 3)


def test_a_count_seen_only_as_0_and_1_scores_2_as_a_number(leads: pd.DataFrame) -> None:
    """A behavioural count that was 0 or 1 in every training row (a rare response type) is a number: a lead
    with 2 such responses at scoring time is read as 2, not as an invalid boolean."""
    config = parse_config_text('[data]\nid = "lead_id"\nwon = "won"\n')
    frame = leads[["lead_id", "won"]].assign(referrals=np.arange(len(leads)) % 2)
    transformer = LeadTransformer(config.data).fit(frame)
    X, status = transformer.transform_with_status(frame.head(1).assign(referrals=2))
    assert status["referrals"].tolist() == ["ok"]
    assert X[0, transformer.feature_names_out_.index("referrals")] == 2

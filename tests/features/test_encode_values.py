"""The transformer's lookup-table entry point (`encode_values`, what the service uses) against its pandas
entry point (`transform_with_status`, what training and files use), on randomized raw values: valid,
junk, missing columns, unseen and rare categories, every JSON type in every column kind."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from leadscore.features import transform as transform_module
from leadscore.features.config import LeadscoreConfig
from leadscore.features.transform import STATUSES, LeadTransformer

JUNK: list[object] = [
    None, "", " ", "N/A", "null", "Select", "-", "maybe", "yes", "No", " TRUE ", "y", "f", True, False, 0, 1, -1, 2,
    0.0, -0.0, 1.0, 1.5, -5.5, 1e-7, 1e16, 10**13, 2**70, 10**400, "1,234", " 12 ", "1_000", "1e5", "nan", "inf", "abc",
    "2024-01-02", "2024-02-30", "03/04/2024 10:00", "1700000000", "Director", "director", "DIRECTOR", "US", "us",
    "__other__", "x" * 40, "ünïcödé", "1.0", "0", "01",
]  # fmt: skip


@pytest.fixture(scope="module")
def fitted(funnel: tuple[pd.DataFrame, pd.DataFrame], demo_config: LeadscoreConfig) -> LeadTransformer:
    """The demo columns plus a datetime column and a categorical one with rare values."""
    rng = np.random.default_rng(0)
    frame = funnel[0].copy()
    frame["signed_up"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 400, len(frame)), unit="D")
    frame["signed_up"] = frame["signed_up"].dt.strftime("%Y-%m-%d")
    common = rng.choice(["alpha", "beta", "gamma"], len(frame))
    frame["tier"] = np.where(rng.random(len(frame)) < 0.004, rng.choice(["rare1", "rare2"], len(frame)), common)
    return LeadTransformer(demo_config.data).fit(frame)


def _random_columns(
    fitted: LeadTransformer, rng: np.random.Generator, rows: int, absent: float = 0.15
) -> dict[str, list[object]]:
    """Per input column (a share `absent` of them left out): values drawn from the fitted categories, in
    other cases, from `JUNK` and random numbers."""
    columns: dict[str, list[object]] = {}
    for spec in fitted.schema_.features:
        if rng.random() < absent:
            continue  # a missing column
        pool: list[object] = [*JUNK, *spec.categories, *spec.rare_categories]
        pool += [c.upper() for c in spec.categories] + [float(v) for v in rng.normal(50, 40, 5)]
        columns[spec.name] = [pool[i] for i in rng.integers(len(pool), size=rows)]
    return columns


def _reference(fitted: LeadTransformer, columns: dict[str, list[object]], rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The pandas path on the same values, each column an object column as the service would build it."""
    frame = pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in columns.items()}, index=range(rows))
    matrix, status = fitted.transform_with_status(frame, allow_missing=True)
    return matrix, np.vectorize(STATUSES.index)(status.to_numpy()).reshape(status.shape)


@pytest.mark.parametrize("seed", range(6))
def test_lookup_tables_encode_like_the_pandas_path(fitted: LeadTransformer, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for rows in (1, 7, 300):
        columns = _random_columns(fitted, rng, rows)
        matrix, codes = fitted.encode_values(columns, rows)
        expected_matrix, expected_codes = _reference(fitted, columns, rows)
        assert np.array_equal(matrix, expected_matrix, equal_nan=True)
        assert np.array_equal(codes, expected_codes)
        again = fitted.encode_values(columns, rows)  # now every value comes from the tables
        assert np.array_equal(again[0], matrix, equal_nan=True) and np.array_equal(again[1], codes)


def test_every_status_occurs_in_the_randomized_values(fitted: LeadTransformer) -> None:
    """The comparison above is only as good as its coverage: each status, and a value read differently
    by type (1 / 1.0 / True, 0.0 / -0.0), is among the values it checks."""
    columns = _random_columns(fitted, np.random.default_rng(0), 2000, absent=0.0)
    _, codes = fitted.encode_values(columns, 2000)
    assert set(np.unique(codes)) == {STATUSES.index(s) for s in ("ok", "missing", "unseen", "invalid", "rare")}
    assert fitted.schema_.features[fitted.schema_.names.index("demo_requested")].kind == "boolean"
    values, codes = fitted.encode_values({"demo_requested": [1, 1.0, True, 0.0, -0.0, "1.0"]}, 6)
    column = fitted.feature_names_out_.index("demo_requested")
    expected = _reference(fitted, {"demo_requested": [1, 1.0, True, 0.0, -0.0, "1.0"]}, 6)
    assert np.array_equal(values[:, column], expected[0][:, column], equal_nan=True)
    assert codes[4, fitted.schema_.names.index("demo_requested")] == STATUSES.index("invalid")  # "-0.0"


def test_a_full_table_starts_again_and_still_encodes_the_same(
    fitted: LeadTransformer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transform_module, "MEMO_LIMIT", 50)
    rng = np.random.default_rng(1)
    for _ in range(5):
        columns = _random_columns(fitted, rng, 200)
        matrix, codes = fitted.encode_values(columns, 200)
        expected_matrix, expected_codes = _reference(fitted, columns, 200)
        assert np.array_equal(matrix, expected_matrix, equal_nan=True) and np.array_equal(codes, expected_codes)
    assert all(len(table.ids) <= 50 + 200 for table in fitted.lookup_tables().values())


def test_tables_are_a_cache_not_part_of_the_pickled_model(fitted: LeadTransformer) -> None:
    fitted.encode_values({"country": ["Atlantis"]}, 1)
    restored = pickle.loads(pickle.dumps(fitted))
    assert "_tables" in fitted.__dict__ and "_tables" not in restored.__dict__
    columns = {"country": ["Atlantis", "US"], "company_size": [3, "1,234"]}
    assert np.array_equal(restored.encode_values(columns, 2)[0], fitted.encode_values(columns, 2)[0], equal_nan=True)

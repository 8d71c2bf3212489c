"""`/score`'s fast path (msgspec decoding, the transformer's lookup tables, a response encoded without
pydantic, the store written from a queue) against the reference path it replaced (FastAPI's stdlib JSON and
pydantic `ScoreRequest`, the transformer's pandas entry point), on randomized request bodies: the same
status, scores, warnings, reasons and errors, byte for byte after JSON decoding."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest_serving import asgi_app_without_metrics, lead_records, train_model_dir
from starlette.testclient import TestClient

from leadscore.features.transform import STATUSES, LeadTransformer
from leadscore.serving import service
from leadscore.serving.validation import reference_leads

pytestmark = pytest.mark.service

JUNK: list[Any] = [
    None, "", " ", "N/A", "Select", "maybe", "yes", "No", True, False, 0, 1, -3, 0.0, -0.0, 2.5, 1e13, 10**30,
    2**63, "1,234", " 12 ", "abc", "director", "DIRECTOR", "US", "Atlantis", "x" * 257, "x" * 256, "\ud800",
    float("nan"), float("inf"), [1], {"a": 1}, "2024-01-02",
]  # fmt: skip
"""Values for any field: valid, unreadable for the column, refused by the request schema, and kinds that
read differently by type (1 / 1.0 / True)."""
SCORABLE: list[Any] = [None, "", " N/A ", "Select", "null"]
UNSEEN: list[Any] = ["Atlantis", "DIRECTOR", 7, 1.0, True]
CATEGORICAL = {"campaign", "channel", "industry", "country", "seniority", "product_interest"}
"""Values scored with a warning: missing anywhere, unseen in categorical columns."""


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_model_dir(tmp_path_factory.mktemp("models") / "champion", seed=0)


@pytest.fixture(scope="module")
def asgi_app() -> Iterator[Any]:
    with asgi_app_without_metrics() as app:
        yield app


def random_body(rng: np.random.Generator, leads: list[dict[str, Any]]) -> bytes:
    """One request: 1 to 12 leads with fields dropped, replaced by junk or added, and now and then a broken
    id or top level."""
    chosen = [dict(leads[i]) for i in rng.integers(len(leads), size=int(rng.integers(1, 13)))]
    junk = rng.random() < 0.5
    for lead in chosen:
        for name in [n for n in lead if junk or n != "id"]:
            values = JUNK if junk else UNSEEN + SCORABLE if name in CATEGORICAL else SCORABLE
            roll = rng.random()
            if roll < 0.1:
                del lead[name]
            elif roll < 0.2 + 0.1 * junk:
                lead[name] = values[rng.integers(len(values))]
        if rng.random() < 0.15:
            lead[str(rng.choice(["favourite_colour", "accepted", "email", "lead_id", "won"]))] = "x"
    document: Any = {"leads": chosen}
    roll = rng.random()
    if roll < 0.03:
        document = {"leads": []}
    elif roll < 0.06:
        document = {"leads": chosen, "extra": 1}
    elif roll < 0.08:
        document = chosen
    body = json.dumps(document).encode()
    return body[: len(body) // 2] if rng.random() < 0.03 else body


def pandas_encode_values(self: LeadTransformer, columns: dict[str, list[Any]], rows: int) -> Any:
    """The reference for `encode_values`: the transformer's pandas entry point on object columns."""
    frame = pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in columns.items()}, index=range(rows))
    matrix, status = self.transform_with_status(frame, allow_missing=True)
    return matrix, np.vectorize(STATUSES.index)(status.to_numpy()).reshape(status.shape).astype(np.int8)


def answers(client: TestClient, bodies: list[bytes]) -> list[tuple[int, Any]]:
    out = []
    for n, body in enumerate(bodies):
        response = client.post(
            "/score",
            content=body,
            headers={"content-type": "application/json"},
            params={"explain": "true"} if n % 3 == 0 else None,
        )
        out.append((response.status_code, response.json()))
    return out


@pytest.mark.parametrize("unknown_fields", ["reject", "ignore"])
def test_fast_path_answers_exactly_as_the_reference_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model_dir: Path, asgi_app: Any, unknown_fields: str
) -> None:
    for name in ("LEADSCORE_API_TOKEN", "LEADSCORE_API_TOKEN_FILE", "LEADSCORE_MAX_BATCH", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEADSCORE_MODEL_URI", str(model_dir))
    monkeypatch.setenv("LEADSCORE_FEEDBACK_DB", f"sqlite:///{tmp_path / 'feedback.db'}")
    monkeypatch.setenv("LEADSCORE_CONFIG", "none")
    monkeypatch.setenv("LEADSCORE_UNKNOWN_FIELDS", unknown_fields)
    rng = np.random.default_rng(7)
    leads = lead_records(200, seed=3)
    bodies = [random_body(rng, leads) for _ in range(80)]
    with TestClient(asgi_app, base_url="http://localhost:3000", client=("127.0.0.1", 50000)) as client:
        fast = answers(client, bodies)
        with monkeypatch.context() as reference:
            reference.setattr(service, "decode_leads", reference_leads)
            reference.setattr(LeadTransformer, "encode_values", pandas_encode_values)
            slow = answers(client, bodies)
    assert fast == slow
    statuses = [status for status, _ in fast]
    warned = [lead for status, body in fast if status == 200 for lead in body["leads"] if lead["warnings"]]
    explained = [lead for status, body in fast if status == 200 for lead in body["leads"] if lead["reasons"]]
    # The comparison covers both outcomes, warnings and reasons, not just one kind of answer.
    assert statuses.count(200) >= 10 and statuses.count(422) >= 10 and warned and explained

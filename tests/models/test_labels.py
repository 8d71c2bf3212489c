"""`[labels]`: column labels and value meanings reach reasons; rare and never-seen values are told apart;
identifier-like columns never become features."""

import copy
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest_serving import METRICS, asgi_app_without_metrics
from local_service import request_leads
from sqlalchemy import create_engine, text
from starlette.testclient import TestClient

from leadscore.datasets.synthetic import CONFIG_TOML, generate_funnel
from leadscore.features.config import ConfigError, LeadscoreConfig, describe, parse_config_text
from leadscore.features.schema import FeatureSchema, FeatureSpec, column_stats, infer_schema, schema_from_stats
from leadscore.features.transform import LeadTransformer
from leadscore.features.validation import prepare_training_frame
from leadscore.models.artifact import save_scorer
from leadscore.models.reasons import display_value
from leadscore.training.fit import FitResult, fit_and_evaluate

MINIMAL = '[data]\nid = "lead_id"\nwon = "won"\n'
LABELS = """
[training]
rare_category_share = 0.02

[labels]
pdays = { label = "Days since last contact", values = { "-1" = "never contacted" } }
demo_requested = "Asked for a demo"
no_such_column = "Ghost"
"""


@pytest.fixture(scope="module")
def labelled() -> FitResult:
    """A scorer fitted on 4000 generated leads whose `pdays` codes "never contacted" as -1."""
    leads = generate_funnel(4000, seed=3)[0]
    days = leads.pop("days_since_last_activity")
    leads["pdays"] = days.where(days < 30, -1)
    return fit_and_evaluate(leads, parse_config_text(CONFIG_TOML + LABELS))


# ------------------------------------------------------------------------------------------ config


def test_labels_plain_or_table() -> None:
    cfg = parse_config_text(MINIMAL + LABELS)
    assert cfg.labels["demo_requested"].label == "Asked for a demo"
    assert cfg.labels["pdays"].values == {"-1": "never contacted"}
    assert parse_config_text(MINIMAL).labels == {}


@pytest.mark.parametrize(
    ("entry", "where"),
    [
        ('pdays = { lable = "Days" }', r"\[labels.pdays.lable\] unknown key"),
        ('pdays = { label = "Days", values = { "-1" = 2 } }', r"\[labels.pdays.values.-1\]"),
        ('pdays = ""', r"\[labels.pdays.label\]"),
        ("pdays = 3", r"\[labels.pdays\]"),
    ],
)
def test_bad_label_entry_is_named(entry: str, where: str) -> None:
    with pytest.raises(ConfigError, match=where):
        parse_config_text(MINIMAL + "[labels]\n" + entry + "\n")


def test_describe_matches_values_however_written() -> None:
    labels = parse_config_text(MINIMAL + LABELS).labels
    for raw in (-1, -1.0, "-1", " -1.0 "):
        assert describe(labels, "pdays", raw) == ("Days since last contact", "never contacted")
    assert describe(labels, "pdays", 5) == ("Days since last contact", None)
    assert describe(labels, "demo_requested", "yes") == ("Asked for a demo", None)
    assert describe(labels, "web_visits", 3) == ("Web visits", None)
    assert describe(None, "pdays", -1) == ("Pdays", None)


def test_label_for_an_absent_column_is_a_warning(labelled: FitResult) -> None:
    ghost = [p for p in labelled.report.warnings if p.column == "no_such_column"]
    assert ghost and "[labels]" in ghost[0].message
    assert not any(p.column == "pdays" for p in labelled.report.warnings)


# ------------------------------------------------------------------------------------------ reasons


def test_labels_and_value_meanings_appear_in_reasons(labelled: FitResult) -> None:
    holdout = labelled.split.holdout
    never = holdout[holdout["pdays"] == -1].head(20)
    assert len(never)
    reasons = [r for row in labelled.scorer.explain(never, k=20) for r in row]
    pdays = [r for r in reasons if r.feature == "pdays"]
    demo = [r for r in reasons if r.feature == "demo_requested"]
    assert pdays and all(r.text.startswith("Days since last contact: never contacted — ") for r in pdays)
    assert all(r.value == "never contacted" for r in pdays)
    assert demo and all(r.text.startswith("Asked for a demo: ") for r in demo)
    contacted = holdout[holdout["pdays"] > 0].head(20)
    other = [r for row in labelled.scorer.explain(contacted, k=20) for r in row if r.feature == "pdays"]
    assert other and all(r.text.startswith("Days since last contact: ") and "never" not in r.text for r in other)


def test_a_model_pickled_before_labels_explains_with_column_names(labelled: FitResult) -> None:
    old = copy.copy(labelled.scorer)
    del old.__dict__["labels"]
    old = pickle.loads(pickle.dumps(old))
    lead = labelled.split.holdout[labelled.split.holdout["pdays"] == -1].head(5)
    pdays = [r for row in old.explain(lead, k=20) for r in row if r.feature == "pdays"]
    assert pdays and all(r.text.startswith("Pdays: -1 — ") for r in pdays)


def test_review_page_shows_labels_and_meanings(
    labelled: FitResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("LEADSCORE_API_TOKEN", "LEADSCORE_API_TOKEN_FILE", "LEADSCORE_CONFIG", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEADSCORE_MODEL_URI", str(save_scorer(labelled.scorer, tmp_path / "model", METRICS)))
    monkeypatch.setenv("LEADSCORE_FEEDBACK_DB", f"sqlite:///{tmp_path / 'feedback.db'}")
    data = labelled.scorer.data
    holdout = labelled.split.holdout
    lead = holdout.loc[holdout["pdays"] == -1, [*labelled.scorer.transformer_.feature_names_in_, data.id]].head(1)
    with (
        asgi_app_without_metrics() as app,
        TestClient(app, base_url="http://localhost:3000", client=("127.0.0.1", 50000)) as client,
    ):
        scored = client.post("/score", json={"leads": request_leads(lead, data.id)})
        assert scored.status_code == 200, scored.text
        client.get("/campaigns")  # reads wait for the store's writer, so the scored lead is in the database
        with create_engine(f"sqlite:///{tmp_path / 'feedback.db'}").connect() as connection:
            row_id = connection.execute(text("SELECT id FROM scored_leads")).scalar_one()
        page = client.get(f"/ui/leads/{row_id}")
    assert page.status_code == 200
    assert "<td>Days since last contact</td><td>never contacted</td>" in page.text
    assert "<td>Asked for a demo</td>" in page.text and "<td>pdays</td>" not in page.text


def test_rare_and_unseen_read_differently_in_reasons(labelled: FitResult) -> None:
    spec = labelled.scorer.transformer_.schema_["industry"]
    assert spec.rare_categories and spec.rare_complete
    lead = labelled.split.holdout.head(2).copy()
    lead["industry"] = [spec.rare_categories[0], "Atlantis industries"]
    rare, unseen = ([r for r in row if r.feature == "industry"] for row in labelled.scorer.explain(lead, k=20))
    assert rare and all(r.status == "rare" and "(rare in training)" in r.text for r in rare)
    assert unseen and all(r.status == "unseen" and "(not seen in training)" in r.text for r in unseen)


def test_display_value_notes_each_status() -> None:
    assert display_value("x", "categorical", "rare") == "x (rare in training)"
    assert display_value("x", "categorical", "unseen") == "x (not seen in training)"
    assert display_value("x", "categorical", "rare_or_unseen") == "x (rare or not seen in training)"
    assert display_value(-1, "numeric", "ok", "never contacted") == "never contacted"
    assert display_value(None, "numeric", "missing", "never contacted") == "not given"


# ------------------------------------------------------------------------------------------ schema / transformer


def test_rare_training_values_get_status_rare(leads: pd.DataFrame, demo_config: LeadscoreConfig) -> None:
    share = leads["industry"].value_counts(normalize=True)
    rare = share.index[share < 0.01][0]
    transformer = LeadTransformer(demo_config.data, rare_share=0.01).fit(leads)
    spec = transformer.schema_["industry"]
    assert rare in spec.rare_categories and rare not in spec.categories and spec.rare_complete
    rows = leads.head(3).copy()
    rows["industry"] = [rare, "Atlantis", spec.categories[0]]
    _, status = transformer.transform_with_status(rows)
    assert status["industry"].tolist() == ["rare", "unseen", "ok"]
    assert FeatureSchema.from_dict(transformer.schema_.to_dict()) == transformer.schema_


def test_older_manifest_cannot_say_never_seen(leads: pd.DataFrame, demo_config: LeadscoreConfig) -> None:
    """A schema saved before rare categories were recorded loads; a value outside its categories may have
    been rare in training, so it is not called unseen."""
    schema = infer_schema(leads, demo_config.data, rare_share=0.01)
    raw = schema.to_dict()
    for f in raw["features"]:
        del f["rare_categories"], f["rare_complete"]
    old = FeatureSchema.from_dict(raw)
    assert old["industry"].rare_categories == () and not old["industry"].rare_complete
    rows = leads.head(1).assign(industry="Atlantis")
    _, status = LeadTransformer(demo_config.data).fit_schema(old).transform_with_status(rows)
    assert status.at[rows.index[0], "industry"] == "rare_or_unseen"


def test_long_tail_is_bounded_and_marked_incomplete() -> None:
    values = pd.Series([f"v{i % 2500}" for i in range(7500)], dtype="string")
    stats = {"tail": column_stats("tail", values)}
    spec = schema_from_stats(stats, parse_config_text('[data]\nid = "x"\nwon = "y"\n').data)["tail"]
    assert spec.categories == () and len(spec.rare_categories) == 2000 and not spec.rare_complete


def test_identifier_like_text_column_is_dropped(leads: pd.DataFrame, demo_config: LeadscoreConfig) -> None:
    rng = np.random.default_rng(0)
    frame = leads.assign(
        crm_hash=[f"{h:016x}" for h in rng.integers(0, 2**63, len(leads))],
        unique_amount=rng.normal(size=len(leads)),
    )
    schema = infer_schema(frame, demo_config.data)
    assert "crm_hash" not in schema.names and "identifier-like" in schema.dropped["crm_hash"]
    assert schema["unique_amount"].kind == "numeric"
    assert schema["industry"].kind == "categorical"
    report = prepare_training_frame(frame, demo_config).report
    assert any(p.column == "crm_hash" and "identifier-like" in p.message for p in report.warnings)


def test_small_tables_keep_mostly_distinct_text(demo_config: LeadscoreConfig, leads: pd.DataFrame) -> None:
    frame = leads.head(500).assign(code=[f"c{i}" for i in range(500)])
    assert "code" in infer_schema(frame, demo_config.data).names


def test_old_pickled_spec_reads_defaults() -> None:
    """Specs pickled before the rare fields existed unpickle with the honest defaults."""
    spec = FeatureSpec.__new__(FeatureSpec)
    for key, value in {"name": "x", "kind": "categorical", "categories": ("a",), "missing_share": 0.0}.items():
        object.__setattr__(spec, key, value)
    object.__setattr__(spec, "non_negative", False)
    restored = pickle.loads(pickle.dumps(spec))
    assert restored.rare_categories == () and restored.rare_complete is False
    assert restored == FeatureSpec(name="x", kind="categorical", categories=("a",))

"""Several models in one state directory (issue 23): two services, `alpha` and `beta`, share one database.

Each reads only its own model's rows (review page, `/campaigns`, `/accounts`, `/model` drift, `monitor`),
event ids are unique per model, and a lead's life over time (scored by alpha v1, by alpha v2 after a
promotion, and by beta beside them) stays apart. Beta is trained without one column, so its drift bins are
narrower than alpha's: a read that mixes the two cannot even build its matrix.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pytest
from conftest_serving import METRICS, asgi_app_without_metrics, lead_records, service_env, start, train_model_dir
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from leadscore.cli.main import app as cli
from leadscore.datasets.synthetic import CONFIG_TOML, generate_funnel
from leadscore.features.config import parse_config_text
from leadscore.features.validation import prepare_training_frame
from leadscore.models.artifact import load_scorer, save_scorer
from leadscore.models.registry import load_model
from leadscore.models.scorer import LeadScorer
from leadscore.monitoring.monitor import monitor
from leadscore.records.database import Database
from leadscore.records.scored import ScoreStore
from leadscore.training import tracking

pytestmark = pytest.mark.service

COUNTS: Counter[str] = Counter()
"""For `make reliability`: rows lost, and rows of another model shown (both must be 0)."""

DROPPED = "country"
"""The column beta is trained without."""


def train_without(directory: Path, column: str) -> Path:
    """A model like `train_model_dir`'s, trained without one column (narrower drift bins)."""
    leads, _ = generate_funnel(3000, 2)
    config = parse_config_text(CONFIG_TOML)
    frame = prepare_training_frame(leads.drop(columns=[column]), config).frame
    scorer = LeadScorer(config.data, config.training).fit(frame.iloc[:2000], frame.iloc[2000:])
    return save_scorer(scorer, directory, METRICS)


@dataclass
class Registry:
    """A temporary MLflow store holding alpha v1, alpha v2 and beta v1 (champion aliases on v1)."""

    uri: str
    root: Path

    def register(self, name: str, artifact: Path) -> str:
        staged = shutil.copytree(artifact, self.root / "staging" / f"{name}-{artifact.name}" / "leadscorer")
        scorer, _ = load_scorer(artifact)
        with mlflow.start_run():
            version = str(tracking.log_model(scorer, staged, name).version)
        if version == "1":
            self.promote(name, version)
        return version

    def promote(self, name: str, version: str) -> None:
        mlflow.MlflowClient(self.uri).set_registered_model_alias(name, "champion", version)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    root = tmp_path_factory.mktemp("registry")
    found = Registry(f"sqlite:///{root / 'mlflow.db'}", root)
    tracking.configure(found.uri)
    assert found.register("alpha", train_model_dir(root / "artifacts" / "alpha1", seed=0)) == "1"
    assert found.register("alpha", train_model_dir(root / "artifacts" / "alpha2", seed=1)) == "2"
    assert found.register("beta", train_without(root / "artifacts" / "beta1", DROPPED)) == "1"
    return found


@pytest.fixture(scope="module")
def asgi_app() -> Iterator[Any]:
    with asgi_app_without_metrics() as app:
        yield app


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The shared state directory's database."""
    return tmp_path / "home" / "feedback.db"


def serve(monkeypatch: pytest.MonkeyPatch, registry: Registry, database: Path, model: str) -> None:
    """Point the next service instance at `models:/<model>@champion` in the shared database."""
    service_env(monkeypatch, Path(f"models:/{model}@champion"), database)
    monkeypatch.setenv("LEADSCORE_MODEL_URI", f"models:/{model}@champion")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry.uri)


def leads_of(prefix: str, n: int, seed: int, without: str | None = None) -> list[dict[str, Any]]:
    leads = [{**lead, "id": f"{prefix}-{i}"} for i, lead in enumerate(lead_records(n, seed=seed))]
    return [{k: v for k, v in lead.items() if k != without} for lead in leads]


def stored(database: Path, model: str) -> set[str]:
    """Lead ids with a stored scoring by `model`."""
    with create_engine(f"sqlite:///{database}").connect() as connection:
        query = text("SELECT lead_id FROM scored_leads WHERE model_name = :m")
        return set(connection.execute(query, {"m": model}).scalars())


def queue_ids(client: Any) -> set[str]:
    page = client.get("/ui/", params={"sort": "recent"})
    assert page.status_code == 200, page.text
    return set(re.findall(r'<tr data-lead="([^"]+)"', page.text))


def test_two_models_in_one_home_each_see_only_their_own_rows(
    monkeypatch: pytest.MonkeyPatch, registry: Registry, asgi_app: Any, home: Path
) -> None:
    alpha_leads, beta_leads = leads_of("A", 30, seed=1), leads_of("B", 20, seed=2, without=DROPPED)
    serve(monkeypatch, registry, home, "alpha")
    with start(asgi_app) as alpha:
        alpha_said = alpha.post("/score", json={"leads": alpha_leads}).json()["stored"]
        event = {"event_id": "evt-1", "lead_id": "A-0", "decision": "accept", "rep_id": "r"}
        assert alpha.post("/feedback", json=event).status_code == 201
        response = {"event_id": "resp-1", "lead_id": "A-1", "occurred_at": "2026-01-01T00:00:00Z",
                    "campaign": "webinar", "response_type": "webinar", "account": "acme"}  # fmt: skip
        assert alpha.post("/responses", json=response).status_code == 201
        assert alpha.get("/accounts/acme").status_code == 200
    serve(monkeypatch, registry, home, "beta")
    with start(asgi_app) as beta:
        beta_said = beta.post("/score", json={"leads": beta_leads}).json()["stored"]
        shown = queue_ids(beta)
        campaigns = beta.get("/campaigns")
        model = beta.get("/model")
        account = beta.get("/accounts/acme")
        same_event = beta.post("/feedback", json={**event, "lead_id": "B-0", "decision": "reject"})
        same_response = beta.post("/responses", json={**response, "lead_id": "B-1"})
    assert shown == {lead["id"] for lead in beta_leads}
    assert campaigns.status_code == 200 and sum(c["leads"] for c in campaigns.json()["campaigns"]) == len(beta_leads)
    assert model.status_code == 200, model.text
    assert model.json()["drift"]["leads"] == len(beta_leads)
    assert account.status_code == 404  # alpha's account
    assert same_event.status_code == 201 and same_event.json()["status"] == "created"  # unique per model
    assert same_response.status_code == 201
    serve(monkeypatch, registry, home, "alpha")
    with start(asgi_app) as alpha:
        alpha_shown = queue_ids(alpha)
    beta_ids, alpha_ids = {lead["id"] for lead in beta_leads}, {lead["id"] for lead in alpha_leads}
    campaign_leads = sum(c["leads"] for c in campaigns.json()["campaigns"])
    drift_leads = model.json()["drift"]["leads"] if model.status_code == 200 else len(beta_leads) + 1
    COUNTS["two_models_rows_answered"] += len(alpha_leads) + len(beta_leads)
    COUNTS["two_models_rows_lost"] += len(alpha_ids - stored(home, "alpha")) * alpha_said
    COUNTS["two_models_rows_lost"] += len(beta_ids - stored(home, "beta")) * beta_said
    COUNTS["two_models_foreign_rows_shown"] += (
        len(shown - beta_ids)
        + len(alpha_shown - alpha_ids)
        + max(0, campaign_leads - len(beta_leads))
        + (account.status_code == 200)
        + max(0, drift_leads - len(beta_leads))
    )
    assert alpha_said and beta_said and alpha_shown == alpha_ids
    url = f"sqlite:///{home}"
    runner = CliRunner()
    args = ["monitor", "--store", url, "--no-log", "--tracking-uri", registry.uri]
    result = runner.invoke(cli, [*args, "--model", "models:/beta/1"])
    assert result.exit_code == 0, result.output
    rescored = 1  # each service re-scored one lead on its response
    assert f"{len(beta_leads) + rescored} scored" in result.output
    report = monitor(load_model("models:/alpha/1", registry.uri), url, url)
    assert report.rows == len(alpha_leads) + rescored and report.calibration["leads"].sum() == 1


def test_a_leads_life_across_a_promotion_beside_another_model(
    monkeypatch: pytest.MonkeyPatch, registry: Registry, asgi_app: Any, home: Path
) -> None:
    """One lead id scored by alpha v1, by beta v1, then by alpha v2 after promotion: alpha's page shows its
    latest scoring (v2) once, beta's shows beta's, drift and monitor count each version's own rows."""
    lead = leads_of("L", 1, seed=5)[0]
    serve(monkeypatch, registry, home, "alpha")
    with start(asgi_app) as alpha:
        v1 = alpha.post("/score", json={"leads": [lead]}).json()["leads"][0]
    serve(monkeypatch, registry, home, "beta")
    with start(asgi_app) as beta:
        by_beta = beta.post("/score", json={"leads": [{k: v for k, v in lead.items() if k != DROPPED}]}).json()
        beta_page = beta.get("/ui/", params={"sort": "recent"}).text
    registry.promote("alpha", "2")
    try:
        serve(monkeypatch, registry, home, "alpha")
        with start(asgi_app) as alpha:
            v2 = alpha.post("/score", json={"leads": [lead]}).json()["leads"][0]
            alpha_page = alpha.get("/ui/", params={"sort": "recent"}).text
            drift = alpha.get("/model").json()["drift"]
    finally:
        registry.promote("alpha", "1")
    COUNTS["lead_life_foreign_rows_shown"] += (
        abs(alpha_page.count('<tr data-lead="L-0">') - 1)
        + abs(beta_page.count('<tr data-lead="L-0">') - 1)
        + abs(drift["leads"] - 1)
    )
    assert (v1["model_version"], v2["model_version"], by_beta["leads"][0]["model_version"]) == ("1", "2", "1")
    assert alpha_page.count('<tr data-lead="L-0">') == 1 and beta_page.count('<tr data-lead="L-0">') == 1
    shown = {name: ScoreStore(Database(f"sqlite:///{home}", name), 90).queue() for name in ("alpha", "beta")}
    assert [(r.lead.lead_id, r.lead.model_version, r.lead.score) for r in shown["alpha"]] == [("L-0", "2", v2["score"])]
    assert [(r.lead.model_version, r.lead.score) for r in shown["beta"]] == [("1", by_beta["leads"][0]["score"])]
    assert drift["leads"] == 1  # alpha v2's own row: not v1's, not beta's version 1
    url = f"sqlite:///{home}"
    assert monitor(load_model("models:/alpha/1", registry.uri), url, url).rows == 1
    assert monitor(load_model("models:/beta/1", registry.uri), url, url).rows == 1

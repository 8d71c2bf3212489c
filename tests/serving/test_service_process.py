"""The service under a real `bentoml serve` on a free loopback port: scoring over HTTP, the server's own
logs free of submitted values, and a clean refusal to start without a model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from conftest_serving import lead_records
from local_service import PROJECT, SERVICE, free_port, local_server

pytestmark = pytest.mark.service

PII = "jane.doe.4711@example.com"


def serve_env(model_uri: str, tmp_path: Path) -> dict[str, str]:
    return {
        "LEADSCORE_MODEL_URI": model_uri,
        "LEADSCORE_FEEDBACK_DB": f"sqlite:///{tmp_path / 'feedback.db'}",
        "LEADSCORE_API_TOKEN": "",
        "LEADSCORE_API_TOKEN_FILE": "",
        "LEADSCORE_CONFIG": "none",
    }


def test_real_server_scores_a_lead_over_http(model_dir: Path, tmp_path: Path) -> None:
    lead = lead_records(1)[0]
    with local_server(serve_env(str(model_dir), tmp_path), tmp_path / "serve.log") as server:
        response = httpx.post(f"{server.url}/score?explain=true", json={"leads": [lead]}, timeout=10)
        bad = httpx.post(f"{server.url}/score", json={"leads": [{**lead, "company_size": PII}]}, timeout=10)
        assert httpx.get(f"{server.url}/livez", timeout=5).status_code == 200
        assert "bentoml_service_request_total" in httpx.get(f"{server.url}/metrics", timeout=5).text
    assert response.status_code == 200, response.text
    scored = response.json()["leads"][0]
    assert scored["id"] == lead["id"] and 0 <= scored["score"] <= 100 and scored["reasons"]
    assert bad.status_code == 422 and PII not in bad.text
    log = server.log()
    assert "path=/score" in log and "status=422" in log
    assert "no API token configured" in log
    assert PII not in log


def test_serve_refuses_to_start_without_a_model(tmp_path: Path) -> None:
    env = serve_env(str(tmp_path / "no-model"), tmp_path)
    command = [sys.executable, "-m", "bentoml", "serve", SERVICE, "--host", "127.0.0.1", "--port", str(free_port())]
    result = subprocess.run(command, cwd=PROJECT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "leadscore: not starting:" in result.stderr
    assert "neither a model directory nor models:/" in result.stderr


def test_a_bentoml_client_scores_through_the_typed_endpoint(model_dir: Path, tmp_path: Path) -> None:
    """BentoML's own client sees the service's typed endpoint and gets /score's answer from it."""
    import bentoml

    leads = lead_records(2)
    with local_server(serve_env(str(model_dir), tmp_path), tmp_path / "serve.log") as server:
        plain = httpx.post(f"{server.url}/score", json={"leads": leads}, timeout=10).json()
        with bentoml.SyncHTTPClient(server.url, timeout=30) as client:
            answer = client.score_leads(leads=leads)
    answer = answer if isinstance(answer, dict) else answer.model_dump()
    assert [lead["score"] for lead in answer["leads"]] == [lead["score"] for lead in plain["leads"]]
    assert [lead["id"] for lead in answer["leads"]] == [lead["id"] for lead in leads] and answer["stored"] is True

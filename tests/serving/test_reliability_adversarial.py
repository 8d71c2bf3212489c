"""What an attacker or a bad file got through (issue 16, items 1-14 except 15), each closed and counted.

Service cases run through the service's ASGI app in process (loopback client addresses only); the CLI
cases call `leadscore score` with broken inputs and outputs. With LEADSCORE_RELIABILITY_REPORT set, the
counts are appended to it for `make reliability` (benchmarks/reliability.py); every count here must be 0
except the ones describing the run's size.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import resource
import shutil
import signal
import stat
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bentoml
import pandas as pd
import pytest
from conftest_serving import asgi_app_without_metrics, lead_records, local_name, service_env, start
from local_service import local_server
from sqlalchemy import create_engine, text
from starlette.testclient import TestClient
from typer.testing import CliRunner

from leadscore.cli.main import app as cli
from leadscore.datasets.synthetic import generate_funnel
from leadscore.marketing.report import grade_mix_chart
from leadscore.models.artifact import MANIFEST_FILE, MODEL_FILE, ModelLoadError, load_scorer
from leadscore.monitoring.monitor import count_unscored_feedback
from leadscore.records.database import Database
from leadscore.records.feedback import FeedbackStore
from leadscore.serving.auth import MAX_FAILURES
from leadscore.serving.schemas import MAX_TEXT

pytestmark = pytest.mark.service

GUESSES = 100
"""Wrong tokens sent in a row, as in the issue."""
LOCAL = "http://localhost:3000"
COUNTS: Counter[str] = Counter()


@pytest.fixture(scope="module")
def asgi_app() -> Iterator[Any]:
    with asgi_app_without_metrics() as app:
        yield app


@pytest.fixture(scope="module")
def leads() -> list[dict[str, Any]]:
    return lead_records(40)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model_dir: Path) -> pytest.MonkeyPatch:
    """The model, a fresh feedback database, no tokens, no rules, no extra hosts."""
    return service_env(monkeypatch, model_dir, tmp_path / "db" / "feedback.db")


def event(n: int, lead_id: str | None = None) -> dict[str, Any]:
    return {"event_id": f"evt-{n}-{uuid.uuid4().hex[:6]}", "lead_id": lead_id or f"L{n:06d}", "decision": "accept",
            "rep_id": "rep-1"}  # fmt: skip


def detail(response: Any) -> dict[str, str]:
    return {e["field"]: e["error"] for e in response.json()["detail"]}


# ------------------------------------------------------------------------------------------ 1. DNS rebinding


def test_dns_rebinding_host_is_refused_without_a_token(
    env: pytest.MonkeyPatch, asgi_app: Any, leads: list[dict[str, Any]]
) -> None:
    """A page on rebind.attacker.example resolving to 127.0.0.1 sends its own Host and a matching Origin."""
    attacker = "http://rebind.attacker.example:3000"
    headers = {"origin": attacker}
    with start(asgi_app, base_url=attacker) as rebound:
        responses = [
            rebound.post("/feedback", json=event(1), headers=headers),
            rebound.post("/score", json={"leads": leads[:1]}, headers=headers),
            rebound.post("/v1/score", json={"leads": leads[:1]}, headers=headers),  # BentoML's own route
            rebound.get("/ui/"),
            rebound.get("/model"),
            rebound.post("/admin/reload", headers=headers),
        ]
    COUNTS["rebinding_requests"] += len(responses)
    COUNTS["rebinding_served"] += sum(r.status_code < 400 for r in responses)
    assert [r.status_code for r in responses] == [421] * len(responses)
    assert "LEADSCORE_ALLOWED_HOSTS" in detail(responses[0])["Host"]
    for base in ("http://localhost:3000", "http://127.0.0.1:3000", "http://[::1]:3000"):
        with start(asgi_app, base_url=base) as local:
            assert local.get("/model").status_code == 200, base
    env.setenv("LEADSCORE_ALLOWED_HOSTS", "leads.internal, scoring.example:8443")
    with start(asgi_app, base_url="http://leads.internal") as named:
        assert named.get("/model").status_code == 200
    with start(asgi_app, base_url=attacker) as rebound:
        assert rebound.get("/model").status_code == 421


# ------------------------------------------------------------------------------------------ 2. cross-site posts


def test_cross_site_posts_are_refused_and_bodies_must_be_json(
    client: TestClient, leads: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    reloads: list[int] = []
    holder = bentoml.get_current_service().models
    monkeypatch.setattr(holder, "reload", lambda: reloads.append(1) or (holder.current, holder.current))
    simple_post = {"content-type": "text/plain", "sec-fetch-site": "cross-site"}  # what a web page can send
    cross_site = [
        client.post("/admin/reload", content=b"x", headers=simple_post),
        client.post("/admin/reload", headers={"origin": "https://evil.example"}),
        client.post("/admin/reload", headers={"origin": "null"}),
        client.post("/feedback", json=event(2), headers={"sec-fetch-site": "same-site"}),
        client.post("/score", json={"leads": leads[:1]}, headers={"origin": "https://evil.example"}),
    ]
    plain_text = [
        client.post("/score", content=json.dumps({"leads": leads[:1]}), headers={"content-type": "text/plain"}),
        client.post("/feedback", content=json.dumps(event(3)), headers={"content-type": "text/plain"}),
    ]
    COUNTS["cross_site_requests"] += len(cross_site) + len(plain_text)
    COUNTS["cross_site_accepted"] += sum(r.status_code < 400 for r in cross_site + plain_text) + len(reloads)
    assert [r.status_code for r in cross_site] == [403] * len(cross_site) and not reloads
    assert [r.status_code for r in plain_text] == [415, 415]
    same_origin = client.post("/admin/reload", headers={"origin": LOCAL, "sec-fetch-site": "same-origin"})
    assert same_origin.status_code == 200 and reloads == [1]


# ------------------------------------------------------------------------------------------ 3. admin token


def test_admin_routes_take_their_own_token(env: pytest.MonkeyPatch, asgi_app: Any) -> None:
    env.setenv("LEADSCORE_API_TOKEN", "scoring-token-1b7e")
    scoring = {"Authorization": "Bearer scoring-token-1b7e"}
    with start(asgi_app) as local:
        remote = start(asgi_app, host="203.0.113.7")
        refused = [remote.post("/admin/reload", headers=scoring)]
        assert detail(refused[0])[""].startswith("no admin token is configured")
        assert local.post("/admin/reload", headers=scoring).status_code == 200
    env.setenv("LEADSCORE_ADMIN_TOKEN", "admin-token-93c4d2")
    with start(asgi_app, host="203.0.113.7") as remote:
        refused.append(remote.post("/admin/reload", headers=scoring))
        assert remote.post("/admin/reload", headers={"Authorization": "Bearer admin-token-93c4d2"}).status_code == 200
        assert remote.get("/model", headers={"Authorization": "Bearer admin-token-93c4d2"}).status_code == 401
        assert remote.get("/model", headers=scoring).status_code == 200
    COUNTS["admin_with_scoring_token"] += sum(r.status_code < 400 for r in refused)
    assert [r.status_code for r in refused] == [403, 401]


# ------------------------------------------------------------------------------------------ 4. guessing tokens


def test_wrong_tokens_are_throttled_per_client(env: pytest.MonkeyPatch, asgi_app: Any) -> None:
    env.setenv("LEADSCORE_API_TOKEN", "the-real-token-8d1f")
    real = {"Authorization": "Bearer the-real-token-8d1f"}
    with start(asgi_app, host="203.0.113.7") as guesser:
        crm = start(asgi_app, host="198.51.100.2")
        bearer = [guesser.get("/model", headers={"Authorization": f"Bearer guess-{n}"}) for n in range(GUESSES)]
        after = guesser.get("/model", headers=real)
        assert crm.get("/model", headers=real).status_code == 200  # other clients are not locked out
        limiter = bentoml.get_current_service().auth_failures
        now = limiter.clock()
        limiter.clock = lambda: now + limiter.window + 1
        assert guesser.get("/model", headers=real).status_code == 200
        logins = [
            guesser.post("/ui/login", data={"token": f"guess-{n}"}, follow_redirects=False) for n in range(GUESSES)
        ]
        login_after = guesser.post("/ui/login", data={"token": "the-real-token-8d1f"}, follow_redirects=False)
    statuses = [r.status_code for r in bearer] + [r.status_code for r in logins]
    COUNTS["token_guesses"] += len(statuses)
    COUNTS["token_guesses_answered_after_the_limit"] += sum(s != 429 for s in statuses) - 2 * MAX_FAILURES
    assert statuses == ([401] * MAX_FAILURES + [429] * (GUESSES - MAX_FAILURES)) * 2
    assert after.status_code == login_after.status_code == 429
    assert 1 <= int(after.headers["Retry-After"]) <= 60


# ------------------------------------------------------------------------------------------ 5. "$" in charts


def test_user_text_in_charts_is_drawn_literally(client: TestClient, leads: list[dict[str, Any]]) -> None:
    names = ["Spring $ sale $x^{", "$\\frac{$", "50$ off $ now $$"]
    scored = [{**lead, "campaign": names[i % 3]} for i, lead in enumerate(leads[:9])]
    assert client.post("/score", json={"leads": scored}).status_code == 200
    charts = [client.get("/ui/campaigns.png?min_leads=1"), client.get("/ui/campaigns.png")]
    charts += [client.get(f"/ui/leads/{row}/chart.png") for row in range(1, 10)]
    COUNTS["charts_with_user_text"] += len(charts) + 1
    COUNTS["chart_failures"] += sum(r.status_code != 200 for r in charts)
    assert [r.status_code for r in charts] == [200] * len(charts)
    assert all(r.content.startswith(b"\x89PNG") for r in charts)
    summary = pd.DataFrame({f"share_{g}": [0.25] * 3 for g in "ABCD"}, index=pd.Index(names, name="campaign"))
    assert grade_mix_chart(summary).startswith(b"\x89PNG")  # `report campaigns`


# ------------------------------------------------------------------------------------------ 6, 7. text and size


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        ('{"leads": [{"id": "L1", "industry": "\\ud800"}]}', "leads[0].industry", "unpaired surrogate"),
        ('{"leads": [{"id": "L\\udfff1"}]}', "leads[0].id", "unpaired surrogate"),
        ('{"leads": [{"id": "L1", "\\ud800": 1}]}', "leads[0]", "valid string"),  # a field name
        ('{"event_id": "e1", "lead_id": "L1", "decision": "accept", "rep_id": "r", "note": "\\ud800"}', "note",
         "unpaired surrogate"),
    ],
)  # fmt: skip
def test_lone_surrogates_are_refused_by_name(client: TestClient, raw: str, field: str, message: str) -> None:
    path = "/score" if raw.startswith('{"leads"') else "/feedback"
    response = client.post(path, content=raw.encode(), headers={"content-type": "application/json"})
    COUNTS["bad_text_requests"] += 1
    COUNTS["bad_text_5xx"] += response.status_code >= 500
    assert response.status_code == 422, response.text
    assert message in detail(response)[field]


def test_oversized_values_and_bodies_are_refused(
    env: pytest.MonkeyPatch, asgi_app: Any, leads: list[dict[str, Any]], tmp_path: Path
) -> None:
    env.setenv("LEADSCORE_MAX_BODY_BYTES", "200000")
    long_text = "x" * (MAX_TEXT + 1)
    with start(asgi_app) as client:
        long_values = [
            client.post("/score", json={"leads": [{**leads[0], "campaign": "c" * 10_000}]}),
            client.post("/score", json={"leads": [{**lead, "industry": long_text} for lead in leads]}),
        ]
        body = json.dumps({"leads": [{**leads[0], "id": f"L{i}"} for i in range(1000)]}).encode()
        assert len(body) > 200_000  # and 1000 leads, within LEADSCORE_MAX_BATCH
        declared = client.post("/score", content=body, headers={"content-type": "application/json"})
        chunked = client.post(
            "/score", content=iter([body[i : i + 65536] for i in range(0, len(body), 65536)]),
            headers={"content-type": "application/json"},
        )  # fmt: skip
        assert client.post("/score", json={"leads": [{**leads[0], "campaign": "c" * MAX_TEXT}]}).status_code == 200
        queue = client.get("/ui/")
    refused = [*long_values, declared, chunked]
    COUNTS["oversized_requests"] += len(refused)
    COUNTS["oversized_accepted"] += sum(r.status_code < 400 for r in refused)
    assert [r.status_code for r in refused] == [422, 422, 413, 413]
    assert detail(long_values[0]) == {"leads[0].campaign": f"is longer than {MAX_TEXT} characters"}
    assert len(detail(long_values[1])) == len(leads)
    assert "LEADSCORE_MAX_BODY_BYTES" in detail(declared)["body"] and "LEADSCORE_MAX_BODY_BYTES" in chunked.text
    with create_engine(f"sqlite:///{tmp_path / 'db' / 'feedback.db'}").connect() as connection:
        stored = connection.execute(text("SELECT count(*), max(length(fields_json)) FROM scored_leads")).one()
    assert stored[0] == 1 and stored[1] < 4000 and queue.status_code == 200


# ------------------------------------------------------------------------------------------ 9. unreadable model


def unreadable_model(model_dir: Path, target: Path, content: bytes) -> Path:
    """A copy of the model whose pickle is `content`, with the manifest's checksum updated to match."""
    copy = shutil.copytree(model_dir, target)
    (copy / MODEL_FILE).write_bytes(content)
    manifest = json.loads((copy / MANIFEST_FILE).read_text())
    manifest["sha256"] = hashlib.sha256(content).hexdigest()
    (copy / MANIFEST_FILE).write_text(json.dumps(manifest))
    return copy


@pytest.mark.parametrize("content", [b"not a pickle at all", pickle.dumps({"a": "dict, not a scorer"})])
def test_an_unreadable_model_with_a_matching_checksum_fails_clearly(
    model_dir: Path, tmp_path: Path, content: bytes, env: pytest.MonkeyPatch, asgi_app: Any
) -> None:
    bad = unreadable_model(model_dir, tmp_path / "bad", content)
    with pytest.raises(ModelLoadError, match=f"model {bad} cannot be loaded .*; retrain it"):
        load_scorer(bad)
    env.setenv("LEADSCORE_MODEL_URI", str(bad))
    with pytest.raises(ModelLoadError, match="retrain"), start(asgi_app):
        pass
    code, output = score_cli("--data", tmp_path / "x.csv", "--out", tmp_path / "y.csv", "--model", bad)
    COUNTS["cli_runs_with_bad_input"] += 1
    COUNTS["cli_tracebacks"] += code not in (0, 2) or "Traceback" in output
    assert code == 2 and "retrain" in output and len(output.strip().splitlines()) == 1


def test_bentoml_serve_refuses_an_unreadable_model_in_one_line(model_dir: Path, tmp_path: Path) -> None:
    bad = unreadable_model(model_dir, tmp_path / "bad", b"not a pickle at all")
    env = {"LEADSCORE_MODEL_URI": str(bad), "LEADSCORE_FEEDBACK_DB": f"sqlite:///{tmp_path / 'f.db'}",
           "LEADSCORE_CONFIG": "none", "LEADSCORE_API_TOKEN": ""}  # fmt: skip
    with pytest.raises(RuntimeError, match="exited") as failed, local_server(env, tmp_path / "serve.log", 60):
        pass
    log = (tmp_path / "serve.log").read_text()
    COUNTS["cli_runs_with_bad_input"] += 1
    COUNTS["cli_tracebacks"] += "Traceback" in log
    assert f"leadscore: not starting: model {bad}: model {bad} cannot be loaded" in str(failed.value)
    assert "Traceback" not in log


# ------------------------------------------------------------------------------------------ 10, 11. feedback


def test_a_deleted_feedback_database_is_recreated_and_readiness_tells(client: TestClient, tmp_path: Path) -> None:
    database = tmp_path / "db" / "feedback.db"
    assert client.post("/feedback", json=event(1)).status_code == 201
    database.unlink()
    after_delete = [client.post("/feedback", json=event(n)) for n in range(2, 5)]
    ready = client.get("/readyz")
    with create_engine(f"sqlite:///{database}").connect() as connection:
        rows = connection.execute(text("SELECT count(*) FROM feedback_events")).scalar()
    shutil.rmtree(tmp_path / "db")  # the database with its WAL files
    (tmp_path / "db").write_text("a file where the folder was: the database cannot be recreated")
    broken = client.post("/feedback", json=event(5))
    not_ready = client.get("/readyz")
    COUNTS["feedback_after_deleting_the_database"] += len(after_delete)
    COUNTS["feedback_refused_after_recreating_it"] += sum(r.status_code != 201 for r in after_delete)
    COUNTS["readiness_wrong"] += (ready.status_code != 200) + (not_ready.status_code == 200)
    assert [r.status_code for r in after_delete] == [201] * 3 and rows == 3
    assert ready.status_code == 200
    assert broken.status_code == 503 and not_ready.status_code == 503


def test_feedback_on_a_lead_never_scored_is_stored_marked_and_counted(
    client: TestClient, leads: list[dict[str, Any]], tmp_path: Path, model_dir: Path
) -> None:
    assert client.post("/score", json={"leads": leads[:1]}).status_code == 200
    known = client.post("/feedback", json=event(1, leads[0]["id"]))
    unknown = [client.post("/feedback", json=event(n, f"never-scored-{n}")) for n in range(3)]
    assert known.status_code == 201 and known.json()["lead_scored"] is True
    assert [(r.status_code, r.json()["lead_scored"]) for r in unknown] == [(201, False)] * 3
    counted = count_unscored_feedback(f"sqlite:///{tmp_path / 'db' / 'feedback.db'}", local_name(model_dir))
    COUNTS["feedback_on_unscored_leads"] += len(unknown)
    COUNTS["feedback_on_unscored_leads_not_counted"] += len(unknown) - counted
    assert counted == 3


# ------------------------------------------------------------------------------------------ CLI: 12, 13, 14

runner = CliRunner()


def score_cli(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(cli, ["score", *map(str, args), "--reasons", "0"])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def lead_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("csv") / "leads.csv"
    generate_funnel(60, seed=4)[0].to_csv(path, index=False)
    return path


def test_score_out_follows_symlinks_and_writes_pipes_in_place(model_dir: Path, lead_csv: Path, tmp_path: Path) -> None:
    target = tmp_path / "real-scores.csv"
    target.write_text("old\n")
    link = tmp_path / "scores.csv"
    link.symlink_to(target)
    code, output = score_cli("--data", lead_csv, "--out", link, "--model", model_dir)
    assert code == 0, output
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # open first, so the writer does not block; the
    try:  # 60 scored rows fit in the pipe's buffer, read once the command is done
        fifo_code, fifo_output = score_cli("--data", lead_csv, "--out", fifo, "--model", model_dir)
        received = os.read(reader, 1 << 16)
    finally:
        os.close(reader)
    replaced = (not link.is_symlink()) + (not stat.S_ISFIFO(fifo.lstat().st_mode))
    COUNTS["special_outputs"] += 2
    COUNTS["special_outputs_replaced"] += replaced
    assert link.is_symlink() and len(pd.read_csv(target)) == 60
    assert fifo_code == 0, fifo_output
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and received.count(b"\n") == 61


def run_cli_limited(args: list[str], file_size_limit: int) -> subprocess.CompletedProcess[str]:
    """`leadscore ...` in a child process whose files may not grow past `file_size_limit` bytes (EFBIG)."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    code = "from cli.main import app; app()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, preexec_fn=limit, timeout=300, check=False
    )


def test_score_reports_bad_inputs_and_outputs_in_one_line(model_dir: Path, lead_csv: Path, tmp_path: Path) -> None:
    header_only = tmp_path / "header.csv"
    header_only.write_text(lead_csv.read_text().splitlines()[0] + "\n")
    (tmp_path / "a-directory").mkdir()
    cases = {
        "holds no leads": ("--data", header_only, "--out", tmp_path / "o.csv"),
        "is a directory": ("--data", lead_csv, "--out", tmp_path / "a-directory"),
    }
    outcomes = {}
    for message, args in cases.items():
        outcomes[message] = score_cli(*args, "--model", model_dir)
    too_big = run_cli_limited(
        ["score", "--data", str(lead_csv), "--out", str(tmp_path / "big.csv"), "--model", str(model_dir),
         "--reasons", "0"],
        file_size_limit=2000,
    )  # fmt: skip
    outcomes["cannot write"] = (too_big.returncode, too_big.stdout + too_big.stderr)
    COUNTS["cli_runs_with_bad_input"] += len(outcomes)
    COUNTS["cli_tracebacks"] += sum(code != 2 or "Traceback" in out for code, out in outcomes.values())
    for message, (code, output) in outcomes.items():
        assert code == 2 and message in output and "Traceback" not in output, (message, output)
    assert "File too large" in outcomes["cannot write"][1]
    assert not (tmp_path / "big.csv").exists() and not (tmp_path / "big.csv.partial").exists()


def test_a_truncated_last_line_is_reported_and_refused_under_strict(
    model_dir: Path, lead_csv: Path, tmp_path: Path
) -> None:
    lines = lead_csv.read_text().splitlines()
    truncated = tmp_path / "truncated.csv"
    truncated.write_text("\n".join([*lines[:-1], lines[-1][:12]]))  # cut off mid-row, no final newline
    code, output = score_cli("--data", truncated, "--out", tmp_path / "scores.csv", "--model", model_dir)
    strict_code, strict_output = score_cli(
        "--data", truncated, "--out", tmp_path / "strict.csv", "--model", model_dir, "--strict"
    )
    reported = "1 row(s)" in output and f"line {len(lines)})" in output
    COUNTS["short_rows"] += 1
    COUNTS["short_rows_unreported"] += not reported
    assert code == 0 and reported, output
    assert strict_code == 2 and "--strict" in strict_output and not (tmp_path / "strict.csv").exists()


def test_a_feedback_database_from_before_the_mark_gains_its_column(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    with create_engine(url).begin() as connection:  # the table as earlier versions created it
        connection.execute(text(
            "CREATE TABLE feedback_events (id INTEGER PRIMARY KEY, event_id VARCHAR(128) UNIQUE, lead_id VARCHAR(256), "
            "decision VARCHAR(16), reason_code VARCHAR(64), note TEXT, rep_id VARCHAR(128), model_version VARCHAR(64), "
            "received_at DATETIME)"
        ))  # fmt: skip
        connection.execute(text("INSERT INTO feedback_events (event_id, lead_id, decision, rep_id, received_at) "
                                "VALUES ('old', 'L1', 'accept', 'r', '2025-01-01 00:00:00')"))  # fmt: skip
    store = FeedbackStore(Database(url, "m"))
    recorded = store.record(event(9), "3", lead_scored=False)
    assert recorded.created and recorded.lead_scored is False
    assert [d.lead_id for d in store.latest_decisions()] == ["L000009", "L1"]
    assert count_unscored_feedback(url, "m") == 1

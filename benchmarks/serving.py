"""Serving speed: a real `bentoml serve` on localhost against the raw LightGBM boosters, in one run.

Goals (issue: serving near the booster), on a 2-core machine, as `bench.SERVING_GOALS` and README state them:
- one lead with explanation: p99 <= 15 ms;
- batch of 1000, scores only: >= 40k leads/s and <= 5x the raw boosters' time for the same rows;
- batch of 1000 with explanations: >= 4k leads/s.
The script exits 1 when it misses one, and refuses to time a machine with a load average above 1 unless
`--allow-load` (the results then say `"quiet": false`).
The raw baseline is `booster.predict` on an already transformed matrix, over every head (plus
`pred_contrib` for the explained workloads), with the scorer's thread count: the floor the service's
parsing, validation, feature transform, calibration and JSON sit on top of. The HTTP floor is BentoML's
own `/livez` on the same server (no FastAPI route, no work). Requests are sent sequentially over one
keep-alive connection, bodies pre-encoded, so the numbers are the service's.

What bounds each number: `profile` times the request path's steps in this process (decode, check and
encode, predict, explain, response), with the service's own functions, so the gap between the served
time and the sum of the steps is HTTP and BentoML. Each run is compared with the previous results file
and a workload more than 25% slower relative to its raw boosters is reported loudly.

Run: `python benchmarks/serving.py [--model-uri URI]` (default: a model trained here on 20k synthetic
leads, so runs compare). Writes benchmarks/results/serving.json.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
from bench import SERVING_GOALS, missed, quiet_or_exit, run_info

from leadscore.datasets.synthetic import CONFIG_TOML, generate_funnel
from leadscore.features.config import parse_config_text
from leadscore.models.artifact import save_scorer
from leadscore.models.registry import load_model
from leadscore.models.scorer import PROBABILITY_HEADS, LeadScorer, threads_for
from leadscore.training.fit import fit_and_evaluate

PROJECT = Path(__file__).resolve().parents[1]
RESULTS = PROJECT / "benchmarks" / "results" / "serving.json"
BATCH = 1000


def _import_serving(module: str) -> Any:
    """A module of the `serving` package. Run as a script, this file's folder is first on sys.path and
    this file, being called serving.py, would shadow that package; the project root takes its place."""
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        sys.path[0] = str(PROJECT)
    return importlib.import_module(f"leadscore.serving.{module}")


sys.path.insert(0, str(PROJECT / "scripts"))
serving_local = importlib.import_module("local_service")
serving_settings = _import_serving("settings")
serving_service = _import_serving("service")
serving_score = _import_serving("score")
serving_validation = _import_serving("validation")
REGRESSION = 1.25
"""A ratio to the raw boosters this much worse than the previous run's is reported as a regression."""


def train_model(directory: Path, n: int = 20_000) -> Path:
    """The demo model: the training pipeline on `n` synthetic leads, saved as an artifact directory."""
    leads, _ = generate_funnel(n, seed=0)
    fit = fit_and_evaluate(leads, parse_config_text(CONFIG_TOML))
    return save_scorer(fit.scorer, directory, fit.metrics)


def fresh_leads(n: int) -> list[dict[str, Any]]:
    """`n` synthetic leads from another seed than training, as `/score` lead objects."""
    leads, _ = generate_funnel(n, seed=99)
    data = parse_config_text(CONFIG_TOML).data
    return serving_local.request_leads(leads.drop(columns=sorted(data.non_feature_columns - {data.id})), data.id)


def timings(call: Callable[[], object], repeats: int, warmup: int = 3) -> np.ndarray:
    """Seconds per call, after `warmup` untimed calls."""
    for _ in range(warmup):
        call()
    out = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        call()
        out[i] = time.perf_counter() - start
    return out


def raw_boosters(scorer: LeadScorer, leads: list[dict[str, Any]], repeats: int) -> dict[str, float]:
    """Median seconds of the bare boosters on transformed matrices: the lower bound for each workload."""
    frame = pd.DataFrame(leads).drop(columns="id")
    one, batch = scorer.transformer_.transform(frame.iloc[:1]), scorer.transformer_.transform(frame)
    heads = scorer.heads_

    def predict(x: np.ndarray, explain: bool) -> None:
        threads = threads_for(len(x))  # as the scorer does
        for name, booster in heads.items():
            booster.predict(x, num_threads=threads)
            if explain and name in PROBABILITY_HEADS:
                booster.predict(x, pred_contrib=True, num_threads=threads)

    return {
        "one_explained": float(np.median(timings(lambda: predict(one, True), repeats * 10))),
        "batch_scores": float(np.median(timings(lambda: predict(batch, False), repeats))),
        "batch_explained": float(np.median(timings(lambda: predict(batch, True), repeats))),
    }


def served(url: str, leads: list[dict[str, Any]], single: int, batches: int, explained: int) -> dict[str, np.ndarray]:
    """Seconds per request for the three workloads, and for BentoML's `/livez`, against the running server."""
    one = json.dumps({"leads": leads[:1]}).encode()
    batch = json.dumps({"leads": leads[:BATCH]}).encode()
    headers = {"content-type": "application/json"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:

        def post(body: bytes, explain: bool) -> None:
            response = client.post("/score", content=body, params={"explain": "true"} if explain else None)
            response.raise_for_status()

        return {
            "livez": timings(lambda: client.get("/livez").raise_for_status(), single, warmup=20),
            "one_explained": timings(lambda: post(one, True), single, warmup=20),
            "batch_scores": timings(lambda: post(batch, False), batches),
            "batch_explained": timings(lambda: post(batch, True), explained, warmup=1),
        }


def profile(scorer: LeadScorer, leads: list[dict[str, Any]], repeats: int) -> dict[str, dict[str, float]]:
    """Median milliseconds of each step of `/score` in this process, per workload: what bounds it."""
    checker = serving_validation.LeadChecker(scorer.transformer_, "reject", data=scorer.data)
    workloads = {"one_explained": (1, True), "batch_scores": (BATCH, False), "batch_explained": (BATCH, True)}
    out: dict[str, dict[str, float]] = {}
    steps: dict[str, list[float]] = {}

    def step(label: str, call: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        result = call()
        steps.setdefault(label, []).append(time.perf_counter() - start)
        return result

    for name, (n, explain) in workloads.items():
        body = json.dumps({"leads": leads[:n]}).encode()
        steps.clear()

        rounds = repeats if n == 1 else max(3, repeats // 10 if explain else repeats)
        for _ in range(rounds + 2):
            decoded = step("decode", lambda b=body: serving_validation.decode_leads(b))
            batch = step("check_and_encode", lambda d=decoded: checker.check(d))
            table = step("predict", lambda b=batch: scorer.predict_columns(b.matrix))
            reasons = (
                step("explain", lambda b=batch: scorer.explain_transformed(b.columns, b.matrix, b.status))
                if explain
                else None
            )

            def respond(b: Any = batch, t: Any = table, r: Any = reasons) -> bytes:
                scores = serving_score._records(t)
                explained = [[x.to_dict() for x in row] for row in r] if r is not None else [None] * len(scores)
                rows = [
                    {"id": b.ids[i], **scores[i], "warnings": b.warnings[i], "reasons": explained[i]}
                    for i in range(len(scores))
                ]
                return serving_service._RESPONSE_ENCODER.encode({"leads": rows})

            step("response", respond)
        out[name] = {label: round(float(np.median(times[2:])) * 1e3, 3) for label, times in steps.items()}
        out[name]["sum"] = round(sum(out[name].values()), 3)
    return out


def summarize(server: dict[str, np.ndarray], raw: dict[str, float]) -> dict[str, Any]:
    """Latencies, throughputs, ratios to the raw boosters, and the goals met or missed."""
    p50, p99 = (float(np.percentile(server["one_explained"], q)) * 1e3 for q in (50, 99))
    floor50, floor99 = (float(np.percentile(server["livez"], q)) * 1e3 for q in (50, 99))
    batch_s, explained_s = float(np.median(server["batch_scores"])), float(np.median(server["batch_explained"]))
    result = {
        "one_lead_explained_ms": {"p50": p50, "p99": p99, "raw_booster": raw["one_explained"] * 1e3},
        "http_floor_livez_ms": {"p50": floor50, "p99": floor99},
        "batch_scores": {"leads_per_s": BATCH / batch_s, "seconds": batch_s, "raw_booster_s": raw["batch_scores"]},
        "batch_explained": {
            "leads_per_s": BATCH / explained_s,
            "seconds": explained_s,
            "raw_booster_s": raw["batch_explained"],
        },
        "ratios_to_raw_booster": {
            "one_lead_explained_p50": p50 / (raw["one_explained"] * 1e3),
            "batch_scores": batch_s / raw["batch_scores"],
            "batch_explained": explained_s / raw["batch_explained"],
        },
    }
    result = {group: {k: round(v, 4 if v < 1 else 1) for k, v in values.items()} for group, values in result.items()}
    result["goals"] = {name: goal.met(result) for name, goal in SERVING_GOALS.items()}
    return result


def regressions(previous: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Workloads whose ratio to the raw boosters is more than `REGRESSION` times the previous run's."""
    before, now = previous.get("ratios_to_raw_booster", {}), current["ratios_to_raw_booster"]
    return [
        f"{name}: {now[name]}x the raw boosters, previous run {before[name]}x"
        for name in now
        if name in before and now[name] > REGRESSION * before[name]
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-uri", help="model directory or models:/NAME@ALIAS (default: train one here)")
    parser.add_argument("--single", type=int, default=300, help="requests with one explained lead")
    parser.add_argument("--batches", type=int, default=30, help="requests with 1000 leads, scores only")
    parser.add_argument("--explained", type=int, default=5, help="requests with 1000 leads, explained")
    parser.add_argument("--allow-load", action="store_true", help="time even when the machine is busy (marked)")
    args = parser.parse_args(argv)
    quiet = quiet_or_exit(args.allow_load)
    load_before = round(os.getloadavg()[0], 2)  # other work on the machine skews every number below
    with tempfile.TemporaryDirectory(prefix="leadscore-bench-") as tmp:
        model_uri = args.model_uri or str(train_model(Path(tmp) / "model"))
        loaded = load_model(model_uri, serving_settings.Settings.from_env().tracking_uri)  # as the server will
        leads = fresh_leads(BATCH)
        raw = raw_boosters(loaded.scorer, leads, args.batches)
        steps = profile(loaded.scorer, leads, args.batches)
        env = {"LEADSCORE_MODEL_URI": model_uri, "LEADSCORE_FEEDBACK_DB": f"sqlite:///{tmp}/feedback.db"}
        env |= {"LEADSCORE_API_TOKEN": "", "LEADSCORE_API_TOKEN_FILE": ""}
        with serving_local.local_server(env, Path(tmp) / "serve.log") as server:
            timed = served(server.url, leads, args.single, args.batches, args.explained)
    result = {
        "run": run_info() | {"quiet": quiet},
        "model_uri": args.model_uri or "trained here: 20k synthetic leads",
        "model_trees": {head: booster.num_trees() for head, booster in loaded.scorer.heads_.items()},
        "machine": {"cpus": os.cpu_count(), "load_1m_before": load_before, "python": platform.python_version()},
        **summarize(timed, raw),
        "profile_ms": steps,
    }
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"written to {RESULTS.relative_to(PROJECT)}")
    for line in regressions(previous, result):
        print(f"WARNING: slower than the previous run relative to the raw boosters: {line}", file=sys.stderr)
    failed = missed(SERVING_GOALS, result)
    if failed:
        print(f"GOALS MISSED: {'; '.join(failed)} (profile_ms says what bounds each)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

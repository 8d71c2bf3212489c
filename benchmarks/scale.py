"""Scale: time and peak memory of training and batch scoring at 10k, 100k and 1M generated leads.

Goals (issue: Scale), on this 2-core machine:
- training on 1M leads x ~50 columns works, and the whole pipeline (validation, leak check, fit with
  calibration and references, holdout metrics and baselines) takes <= 1.3x bare `lightgbm.train` on the
  same transformed matrix with the same parameters, validation set and early stopping, in the same process;
- batch scoring streams: its peak RSS does not grow with the file (1M vs 100k rows ~ 1.0x).

Each measurement runs in a fresh child process (this script with --child), which reports its own wall
time, CPU time and peak RSS (VmHWM), so one phase's memory never hides another's. Pipeline and bare
LightGBM alternate `--repeats` times (default 3) and the fastest of each counts: on a shared machine other
processes only add time (2 busy cores slow LightGBM's OpenMP threads several-fold).
Columns: `ratio` = whole pipeline / bare LightGBM run separately; `own r` = whole pipeline / the time spent
inside the pipeline's own `lightgbm.train` calls (same matrices, measured in the same seconds: the figure
least disturbed by other processes); `lgb/bare` = the pipeline's own LightGBM time / bare LightGBM, how many
bare fits of LightGBM work the product does (settings search, the fit the holdout judges, the refit on all
history with its rounds scaled to the rows): `ratio` = `lgb/bare` x `own r`. Each phase's LightGBM seconds
are reported beside its wall time (`phases_s`). The data are the
generator's funnel plus numeric and categorical noise columns (~50 columns), written once per size as
Parquet (for training) and CSV (for scoring, as a CRM export arrives). Also measured: in-process scoring
latency per request size, for the serving sizing table in docs/scale.md.

The Dask row: at the largest size, the same leads as partitioned Parquet, trained (`train_distributed`) and
scored (`score_distributed`) on a real `dask scheduler` with `DASK_WORKERS` `dask worker` processes on
loopback (one thread each), with wall time, the client's peak RSS and each worker's peak RSS (read in the
worker processes; workers are restarted between training and scoring so each phase has its own peak).

Run: `python benchmarks/scale.py [--quick] [--allow-load]` (--quick: 10k and 100k only). Writes
benchmarks/results/scale.json with the run's date and load; refuses to time a machine whose load average is above
1 unless --allow-load (the results then say `"quiet": false`), and exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import lightgbm as lgb
import numpy as np
import pandas as pd
from bench import SCALE_GOALS, missed, quiet_or_exit, run_info

from leadscore.datasets.synthetic import CONFIG_TOML, generate_funnel
from leadscore.features.config import parse_config_text
from leadscore.models.artifact import load_scorer, save_scorer
from leadscore.models.scorer import PROBABILITY_HEADS, targets
from leadscore.scoring.batch import count_rows, score_file
from leadscore.scoring.distributed import score_distributed
from leadscore.training.distributed import train_distributed
from leadscore.training.fit import fit_and_evaluate

ROOT = Path(__file__).resolve().parents[1]
SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000, 100_000)
REASONS_UP_TO = 100_000
"""Scoring with reasons (per-lead TreeSHAP and sentences) is also timed up to this size."""
NOISE_NUMERIC = 20
NOISE_CATEGORICAL = 12
REQUEST_SIZES = (1, 10, 100, 1000)
DASK_WORKERS = 2
DASK_PARTS = 8
"""Parquet files the Dask row's leads are written as (the partitions)."""
RESULTS = ROOT / "benchmarks" / "results" / "scale.json"
CONFIG = parse_config_text(CONFIG_TOML)


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _peak_mb() -> float:
    """This process's peak RSS (VmHWM). Not `ru_maxrss`: that keeps the high-water mark of the forked parent
    image from before `exec`, so a child of a big parent would report the parent's memory."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), _cpu()
    out = fn()
    return out, time.perf_counter() - wall, _cpu() - cpu


def make_leads(n: int, seed: int = 0) -> pd.DataFrame:
    """The generator's funnel widened to ~50 columns with noise a real CRM export also carries."""
    leads, _ = generate_funnel(n, seed)
    rng = np.random.default_rng(seed + 1)
    extra: dict[str, Any] = {}
    for i in range(NOISE_NUMERIC):
        values = rng.lognormal(2.0, 1.0, n).round(2)
        values[rng.random(n) < 0.05] = np.nan
        extra[f"noise_num_{i:02d}"] = values
    for i in range(NOISE_CATEGORICAL):
        levels = np.array([f"level_{j}" for j in range(5 + 4 * i)], dtype=object)
        extra[f"noise_cat_{i:02d}"] = levels[rng.integers(0, len(levels), n)]
    return pd.concat([leads, pd.DataFrame(extra)], axis=1)


# ---------------------------------------------------------------- children (one measurement each)
def _bare_lightgbm(fit: Any) -> tuple[dict[str, int], float, float]:
    """Bare `lightgbm.train` per head on the pipeline's own matrices, with the settings its search chose and the
    same early stopping: one fit per head, what a hand-written script would do (no search, no refit)."""
    scorer, split = fit.evaluated, fit.split
    transformer = scorer.transformer_
    X, X_val = transformer.transform(split.train), transformer.transform(split.valid)
    y, y_val = targets(split.train, CONFIG.data), targets(split.valid, CONFIG.data)
    won, won_val = y["won"] > 0, y_val["won"] > 0
    cap = scorer.revenue_cap_
    jobs = [(h, "binary", X, y[h], X_val, y_val[h]) for h in PROBABILITY_HEADS]
    revenue = (np.minimum(y["revenue"][won], cap), np.minimum(y_val["revenue"][won_val], cap))
    jobs.append(("revenue", "tweedie", X[won], revenue[0], X_val[won_val], revenue[1]))

    def train_all() -> dict[str, int]:
        rounds = {}
        for head, objective, Xh, yh, Xv, yv in jobs:
            names, cats = transformer.feature_names_out_, transformer.categorical_indices_
            train_set = lgb.Dataset(Xh, yh, feature_name=names, categorical_feature=cats)
            valid_set = lgb.Dataset(Xv, yv, reference=train_set, feature_name=names, categorical_feature=cats)
            booster = lgb.train(
                scorer.lgb_params(objective, len(yh), scorer.head_settings_[head].params),
                train_set,
                num_boost_round=CONFIG.training.num_boost_round,
                valid_sets=[valid_set],
                callbacks=[lgb.early_stopping(50, verbose=False)],
            )
            rounds[head] = booster.current_iteration()
        return rounds

    return _timed(train_all)


def _pipeline(raw: pd.DataFrame) -> tuple[Any, dict[str, float]]:
    """`fit_and_evaluate` with its wall and CPU time, the wall time of each of its steps, and the time spent
    inside its own `lightgbm.train` calls (measured at the same moment as the rest, so a busy machine
    inflates both sides alike)."""
    marks: list[tuple[str, float]] = []
    inside: list[tuple[str, float]] = []
    real_train = lgb.train

    def timed_train(*args: Any, **kwargs: Any) -> lgb.Booster:
        booster, wall, _ = _timed(lambda: real_train(*args, **kwargs))
        inside.append((marks[-1][0], wall))
        return booster

    start = time.perf_counter()
    with mock.patch.object(lgb, "train", timed_train):
        fit, wall, cpu = _timed(
            lambda: fit_and_evaluate(raw, CONFIG, step=lambda s: marks.append((s, time.perf_counter())))
        )
    ends = [t for _, t in marks[1:]] + [start + wall]
    phases = {name: round(end - t, 2) for (name, t), end in zip(marks, ends, strict=True)}
    lightgbm = {f"lightgbm in: {name}": round(sum(w for n, w in inside if n == name), 2) for name, _ in marks}
    totals = {"wall": wall, "cpu": cpu, "lightgbm_inside": sum(w for _, w in inside), "load_avg": os.getloadavg()[0]}
    return fit, totals | phases | {k: v for k, v in lightgbm.items() if v}


_RUN_TOTALS = ("wall", "cpu", "lightgbm_inside", "load_avg", "bare_wall", "bare_cpu")


def child_train(data: Path, model_dir: Path, repeats: int) -> dict[str, Any]:
    """Pipeline and bare LightGBM, alternated `repeats` times; the fastest of each is reported, since other
    processes on a shared machine only ever add time. Saves the model for the scoring children."""
    raw = pd.read_parquet(data)
    runs: list[dict[str, float]] = []
    for i in range(repeats):
        fit, run = _pipeline(raw)
        if not i:
            pipeline_peak = _peak_mb()
        rounds, run["bare_wall"], run["bare_cpu"] = _bare_lightgbm(fit)
        runs.append(run)
    best, bare = min(runs, key=lambda r: r["wall"]), min(runs, key=lambda r: r["bare_wall"])
    fitting = min(next(v for k, v in r.items() if k.startswith("fitting")) for r in runs)
    save_scorer(fit.scorer, model_dir)
    return {
        "rows": len(raw),
        "columns": raw.shape[1],
        "features": len(fit.scorer.transformer_.feature_names_out_),
        "pipeline_s": round(best["wall"], 2),
        "pipeline_cpu_s": round(best["cpu"], 2),
        "phases_s": {k: round(v, 2) for k, v in best.items() if k not in _RUN_TOTALS},
        "bare_lightgbm_s": round(bare["bare_wall"], 2),
        "bare_lightgbm_cpu_s": round(bare["bare_cpu"], 2),
        "ratio_to_bare": round(best["wall"] / bare["bare_wall"], 2),
        "cpu_ratio_to_bare": round(best["cpu"] / bare["bare_cpu"], 2),
        "fit_step_ratio_to_bare": round(fitting / bare["bare_wall"], 2),
        "lightgbm_inside_pipeline_s": round(best["lightgbm_inside"], 2),
        "ratio_to_own_lightgbm": round(best["wall"] / best["lightgbm_inside"], 2),
        "own_lightgbm_over_bare": round(best["lightgbm_inside"] / bare["bare_wall"], 2),
        "runs": [{k: round(v, 2) for k, v in r.items()} for r in runs],
        "rounds": {h: b.current_iteration() for h, b in fit.scorer.heads_.items()},
        "bare_rounds": rounds,
        "won_roc_auc": round(fit.metrics["won_roc_auc"], 4),
        "peak_rss_mb": round(pipeline_peak),
    }


def child_score(model_dir: Path, data: Path, reasons: int) -> dict[str, Any]:
    """Stream a CSV through `score_file`; peak RSS is the whole process's, model included."""
    scorer, _ = load_scorer(model_dir)
    loaded_mb = _peak_mb()
    with tempfile.TemporaryDirectory() as tmp:
        summary, wall, cpu = _timed(lambda: score_file(scorer, data, Path(tmp) / "scores.csv", reasons=reasons))
    return {
        "rows": summary.rows,
        "reasons": reasons,
        "seconds": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "leads_per_s": round(summary.rows / wall),
        "model_loaded_rss_mb": round(loaded_mb),
        "peak_rss_mb": round(_peak_mb()),
    }


def child_requests(model_dir: Path, data: Path) -> dict[str, Any]:
    """In-process latency of one scoring call per request size: what one service worker can do per core."""
    scorer, _ = load_scorer(model_dir)
    leads = pd.read_parquet(data).head(max(REQUEST_SIZES))
    out: dict[str, Any] = {}
    for size in REQUEST_SIZES:
        batch = leads.head(size)
        for explain in (False, True):
            call = (lambda b=batch: scorer.explain(b, k=2)) if explain else (lambda b=batch: scorer.predict(b))
            call()
            repeats = max(3, 2000 // size)
            _, wall, _ = _timed(lambda c=call, r=repeats: [c() for _ in range(r)])
            ms = wall / repeats * 1000
            out[f"{size}{'_explained' if explain else ''}"] = {
                "ms": round(ms, 2),
                "leads_per_s": round(size / ms * 1000),
            }
    return out


def _loopback_cluster(workers: int) -> tuple[str, list[subprocess.Popen[bytes]]]:
    """A real `dask scheduler` and `workers` `dask worker` processes (one thread each) on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    dask_cli = str(Path(sys.executable).with_name("dask"))
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [
        subprocess.Popen([dask_cli, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], **quiet)
    ]
    worker = [dask_cli, "worker", address, "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard"]
    procs += [subprocess.Popen([*worker, "--name", f"w{i}"], **quiet) for i in range(workers)]
    return address, procs


def child_dask(data_dir: Path, workers: int) -> dict[str, Any]:
    """Train and score the partitioned leads on a loopback cluster: wall time, client and per-worker peak RSS."""
    from distributed import Client

    address, procs = _loopback_cluster(workers)
    try:
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(workers, timeout=120)
            cluster, train_s, train_cpu = _timed(lambda: train_distributed(str(data_dir), CONFIG, address))
            train_peaks = sorted(round(mb) for mb in client.run(_peak_mb).values())
            client.restart()
            with tempfile.TemporaryDirectory() as tmp:
                out = str(Path(tmp) / "scores")
                summary, score_s, _ = _timed(lambda: score_distributed(cluster.fit.scorer, str(data_dir), out, address))
            score_peaks = sorted(round(mb) for mb in client.run(_peak_mb).values())
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=30)
    return {
        "workers": workers,
        "threads_per_worker": 1,
        "partitions": DASK_PARTS,
        "rows": sum(cluster.rows.values()),
        "train_s": round(train_s, 2),
        "train_client_cpu_s": round(train_cpu, 2),
        "train_worker_peak_rss_mb": train_peaks,
        "score_s": round(score_s, 2),
        "score_leads_per_s": round(summary.rows / score_s),
        "score_worker_peak_rss_mb": score_peaks,
        "client_peak_rss_mb": round(_peak_mb()),
        "won_roc_auc": round(cluster.fit.metrics["won_roc_auc"], 4),
    }


CHILDREN: dict[str, Callable[..., dict[str, Any]]] = {
    "train": lambda data, model, repeats: child_train(Path(data), Path(model), int(repeats)),
    "score": lambda model, data, reasons: child_score(Path(model), Path(data), int(reasons)),
    "requests": lambda model, data: child_requests(Path(model), Path(data)),
    "dask": lambda data, workers: child_dask(Path(data), int(workers)),
}


def run_child(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False, cwd=ROOT
    )
    if done.returncode:
        raise RuntimeError(f"child {args[0]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- the run
def _growth(values: list[float]) -> list[float | None]:
    return [None] + [round(b / a, 2) if a else None for a, b in itertools.pairwise(values)]


def _table(results: list[dict[str, Any]]) -> str:
    train_growth = _growth([r["train"]["pipeline_s"] for r in results])
    score_growth = _growth([r["score"]["seconds"] for r in results])
    rss_growth = _growth([r["score"]["peak_rss_mb"] for r in results])
    lines = [
        f"{'leads':>9} {'train s':>8} {'x10':>5} {'bare s':>7} {'ratio':>6} {'own r':>6} {'lgb/bare':>8}"
        f" {'train MB':>9} {'score s':>8} {'x10':>5} {'leads/s':>8} {'score MB':>9} {'x10':>5}"
    ]
    for r, tg, sg, mg in zip(results, train_growth, score_growth, rss_growth, strict=True):
        t, s = r["train"], r["score"]
        lines.append(
            f"{r['rows']:>9,} {t['pipeline_s']:>8.1f} {tg or '':>5} {t['bare_lightgbm_s']:>7.1f}"
            f" {t['ratio_to_bare']:>6.2f} {t['ratio_to_own_lightgbm']:>6.2f} {t['own_lightgbm_over_bare']:>8.2f}"
            f" {t['peak_rss_mb']:>9,}"
            f" {s['seconds']:>8.1f} {sg or '':>5} {s['leads_per_s']:>8,} {s['peak_rss_mb']:>9,} {mg or '':>5}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k and 100k leads only")
    parser.add_argument("--repeats", type=int, default=3, help="pipeline / bare LightGBM pairs per size")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--allow-load", action="store_true", help="time even when the machine is busy (marked)")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child[0]](*args.child[1:])))
        return 0
    quiet = quiet_or_exit(args.allow_load)
    sizes = QUICK_SIZES if args.quick else SIZES
    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="leadscore-scale-") as tmp:
        for n in sizes:
            base = Path(tmp) / str(n)
            base.mkdir()
            leads = make_leads(n)
            parquet, csv, model = base / "leads.parquet", base / "leads.csv", base / "model"
            leads.to_parquet(parquet, index=False)
            leads.to_csv(csv, index=False, date_format="%Y-%m-%dT%H:%M:%S")
            del leads
            entry: dict[str, Any] = {"rows": n, "csv_mb": round(csv.stat().st_size / 2**20)}
            print(f"== {n:,} leads: training", flush=True)
            entry["train"] = run_child("train", str(parquet), str(model), str(args.repeats))
            print(f"== {n:,} leads: scoring {count_rows(csv):,} CSV rows", flush=True)
            entry["score"] = run_child("score", str(model), str(csv), "0")
            if n <= REASONS_UP_TO:
                entry["score_with_reasons"] = run_child("score", str(model), str(csv), "2")
            if n == min(max(sizes), REASONS_UP_TO):
                entry["requests"] = run_child("requests", str(model), str(parquet))
            if n == max(sizes):
                print(f"== {n:,} leads: Dask, {DASK_WORKERS} workers on loopback", flush=True)
                parts = base / "parts"
                parts.mkdir()
                leads = pd.read_parquet(parquet)
                for i, rows in enumerate(np.array_split(np.arange(n), DASK_PARTS)):
                    leads.iloc[rows].to_parquet(parts / f"part-{i}.parquet", index=False)
                del leads
                entry["dask"] = run_child("dask", str(parts), str(DASK_WORKERS))
            print(json.dumps(entry), flush=True)
            results.append(entry)
    table = _table(results)
    d = results[-1]["dask"]
    table += (
        f"\nDask, {d['workers']} workers x 1 thread, {d['rows']:,} leads: train {d['train_s']:.1f} s"
        f" (worker peaks {d['train_worker_peak_rss_mb']} MB), score {d['score_s']:.1f} s"
        f" (worker peaks {d['score_worker_peak_rss_mb']} MB), client peak {d['client_peak_rss_mb']:,} MB"
    )
    print(table)
    load = os.getloadavg()
    report = {
        "run": run_info() | {"quiet": quiet},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg_at_end": load},
        "columns": {"generator": 21, "noise_numeric": NOISE_NUMERIC, "noise_categorical": NOISE_CATEGORICAL},
        "sizes": results,
        "growth_per_10x": {
            "train_s": _growth([r["train"]["pipeline_s"] for r in results]),
            "bare_lightgbm_s": _growth([r["train"]["bare_lightgbm_s"] for r in results]),
            "train_peak_rss": _growth([r["train"]["peak_rss_mb"] for r in results]),
            "score_s": _growth([r["score"]["seconds"] for r in results]),
            "score_peak_rss": _growth([r["score"]["peak_rss_mb"] for r in results]),
        },
        "total_s": round(time.perf_counter() - started),
        "table": table.splitlines(),
    }
    report["goals"] = {name: goal.met(report) for name, goal in SCALE_GOALS.items()}
    if not args.quick:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {RESULTS.relative_to(ROOT)}")
    print(json.dumps(report["goals"]))
    failed = missed(SCALE_GOALS, report)
    if failed:
        print(f"GOALS MISSED: {'; '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Reliability at full size: fuzzing, overload, hot swap under load, feedback faults, the PII canary, the
adversarial cases (DNS rebinding, cross-site posts, token guessing, hostile text, bad files and outputs),
and the store's faults (two models in one home, a full disk, held locks, concurrent `/responses`).

The scenarios are the tests in `TESTS`; `make test` runs them with small counts, this
script runs them with the issue's counts (LEADSCORE_FUZZ_EXAMPLES per operation and generation mode,
LEADSCORE_LOAD_REQUESTS per burst), collects what they measured and prints the summary table. Every
count in the table's "must be 0" rows is a failure of the issue's goals.

Run: `python benchmarks/reliability.py [--fuzz-examples N] [--load-requests N]`
(`make reliability`). Writes benchmarks/results/reliability.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench import run_info

PROJECT = Path(__file__).resolve().parents[1]
RESULTS = PROJECT / "benchmarks" / "results" / "reliability.json"
TESTS = [
    "tests/serving/test_reliability_service.py",
    "tests/training/test_reliability_training.py",
    "tests/serving/test_reliability_adversarial.py",
    "tests/serving/test_models_share_home.py",
    "tests/serving/test_store_failures.py",
    "tests/serving/test_journeys.py",
]

ROWS = [
    ("fuzzed requests (valid and invalid, from the OpenAPI schema)", "fuzz_cases", None),
    ("  5xx responses", "fuzz_5xx", 0),
    ("  4xx without a JSON error body", "fuzz_unexplained_4xx", 0),
    ('  paths BentoML cannot route to the app (line break or resolved "..")', "fuzz_unroutable_paths", None),
    ("overload burst requests", "overload_requests", None),
    ("  answered 429 (expected)", "overload_429", None),
    ("  5xx or dropped connections", "overload_5xx_or_dropped", 0),
    ("  failed health checks during the burst", "health_checks_failed", 0),
    ("requests during hot swap", "swap_requests", None),
    ("  failed requests during swap", "swap_failed_requests", 0),
    ("acknowledged feedback events (lock, restart, retries)", "feedback_acknowledged", None),
    ("  feedback rows lost", "feedback_rows_lost", 0),
    ("  feedback rows stored twice", "feedback_rows_duplicated", 0),
    ("places searched for the PII canary", "pii_places_searched", None),
    ("  PII hits", "pii_hits", 0),
    ("DNS-rebinding requests (foreign Host, no token)", "rebinding_requests", None),
    ("  served", "rebinding_served", 0),
    ("cross-site or non-JSON state-changing requests", "cross_site_requests", None),
    ("  accepted", "cross_site_accepted", 0),
    ("  admin calls accepted with the scoring token", "admin_with_scoring_token", 0),
    ("wrong tokens sent in a row (bearer and /ui/login)", "token_guesses", None),
    ("  answered other than 429 after the limit", "token_guesses_answered_after_the_limit", 0),
    ("charts drawn with '$' and TeX in user text", "charts_with_user_text", None),
    ("  failed", "chart_failures", 0),
    ("requests with lone surrogates in text", "bad_text_requests", None),
    ("  5xx", "bad_text_5xx", 0),
    ("oversized values and bodies", "oversized_requests", None),
    ("  accepted", "oversized_accepted", 0),
    ("random 404 paths sent", "unknown_paths_sent", None),
    ("  new /metrics series", "metrics_series_from_unknown_paths", 0),
    ("feedback after deleting the database", "feedback_after_deleting_the_database", None),
    ("  refused after recreating it", "feedback_refused_after_recreating_it", 0),
    ("  /readyz answers that were wrong", "readiness_wrong", 0),
    ("feedback on leads never scored", "feedback_on_unscored_leads", None),
    ("  not counted by monitor", "feedback_on_unscored_leads_not_counted", 0),
    ("two models (alpha, beta) in one home: leads scored", "two_models_rows_answered", None),
    ("  rows lost", "two_models_rows_lost", 0),
    ("  rows of another model shown (page, /campaigns, /accounts, drift)", "two_models_foreign_rows_shown", 0),
    ("  a lead across a promotion: rows of another model or version shown", "lead_life_foreign_rows_shown", 0),
    ("full disk (injected write error): leads answered", "full_disk_rows_answered", None),
    ("  rows lost (answered as stored, not there)", "full_disk_rows_lost", 0),
    ("  not stored, and the answer said so", "full_disk_rows_not_stored_and_said_so", None),
    ("held lock (BEGIN EXCLUSIVE, then released): leads answered", "held_lock_rows_answered", None),
    ("  rows lost (answered as stored, not there)", "held_lock_rows_lost", 0),
    ("  not stored, and the answer said so", "held_lock_rows_not_stored_and_said_so", None),
    ("held read transaction: leads answered", "held_read_rows_answered", None),
    ("  rows lost (answered as stored, not there)", "held_read_rows_lost", 0),
    ("  not stored (a reader must not block a write)", "held_read_rows_not_stored_and_said_so", 0),
    ("concurrent /responses with an account for one lead", "concurrent_responses", None),
    ("  failed (5xx or not stored)", "concurrent_responses_failed", 0),
    ("  rows lost (answered 201, not there)", "concurrent_responses_rows_lost", 0),
    ("CLI runs with bad input, output or model", "cli_runs_with_bad_input", None),
    ("  tracebacks or exit codes other than 2", "cli_tracebacks", 0),
    ("symlink and pipe outputs", "special_outputs", None),
    ("  replaced by a regular file", "special_outputs_replaced", 0),
    ("CSV rows shorter than the header", "short_rows", None),
    ("  unreported", "short_rows_unreported", 0),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fuzz-examples", type=int, default=250, help="per operation and generation mode")
    parser.add_argument("--load-requests", type=int, default=2000, help="per load burst")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="leadscore-reliability-") as tmp:
        report = Path(tmp) / "counts.jsonl"
        env = {
            **os.environ,
            "LEADSCORE_FUZZ_EXAMPLES": str(args.fuzz_examples),
            "LEADSCORE_LOAD_REQUESTS": str(args.load_requests),
            "LEADSCORE_RELIABILITY_REPORT": str(report),
        }
        started = time.monotonic()
        tests = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS], cwd=PROJECT, env=env
        )
        seconds = time.monotonic() - started
        counts: Counter[str] = Counter()
        for line in report.read_text().splitlines() if report.exists() else []:
            counts.update(json.loads(line))
    sizes = f"{args.fuzz_examples} fuzz examples per operation and mode, {args.load_requests} requests per burst"
    print(f"\nreliability ({sizes}, {seconds:.0f}s)")
    print(f"{'':<58}{'count':>8}  goal")
    goals_met = tests.returncode == 0
    for label, key, goal in ROWS:
        value = counts.get(key, 0)
        verdict = "" if goal is None else ("ok" if value == goal else "FAIL")
        goals_met &= verdict != "FAIL"
        print(f"{label:<58}{value:>8}  {'' if goal is None else f'= {goal} {verdict}'}")
    print(f"tests: {'passed' if tests.returncode == 0 else 'FAILED'}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    summary = {"run": run_info(), "fuzz_examples": args.fuzz_examples, "load_requests": args.load_requests}
    summary |= {"seconds": round(seconds)} | {key: counts.get(key, 0) for _, key, _ in ROWS} | dict(counts)
    RESULTS.write_text(json.dumps(summary | {"tests_passed": tests.returncode == 0}, indent=2) + "\n")
    return 0 if goals_met else 1


if __name__ == "__main__":
    sys.exit(main())

"""What each table and computed figure in README.md and docs/ is, built from benchmarks/results/*.json.

`benchmarks/figures.py` puts them between the markers; goal columns come from `bench`, the same goal objects
each benchmark judges its run by. Standard library only.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import QUALITY_CALIBRATION, QUALITY_GOALS, SERVING_GOALS, Goal, lookup

RESULTS = Path(__file__).resolve().parent / "results"


class Results:
    """The results files of one folder, read once each."""

    def __init__(self, folder: Path = RESULTS) -> None:
        self.folder = folder
        self._read: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._read:
            self._read[name] = json.loads((self.folder / f"{name}.json").read_text())
        return self._read[name]

    def value(self, path: str) -> Any:
        """`file.key.key`: a value of a results file; `*` maps the rest of the path over a list."""
        name, _, rest = path.partition(".")
        return _lookup(self[name], rest)


def _lookup(data: Any, path: str) -> Any:
    head, star, tail = path.partition("*")
    if not star:
        return lookup(data, path)
    items = lookup(data, head.rstrip(".")) if head else data
    return [_lookup(item, tail.lstrip(".")) if tail else item for item in items]


def quality_rows(r: Results) -> list[dict[str, Any]]:
    return [row for row in r["quality"] if row["calibration"] == QUALITY_CALIBRATION]


def _pct(part: float, whole: float) -> str:
    return f"{part / whole:.1%}"


def _verdict(goals: list[Goal], runs: list[tuple[str, Any]]) -> str:
    """The goal as README states it, and met / missed (with where) across the runs."""
    text = " and ".join(dict.fromkeys(g.text for g in goals))
    misses = [label for label, run in runs if not all(g.met(run) for g in goals)]
    return f"{text} — met" if not misses else f"{text} — **missed** ({', '.join(misses)})"


def table_quality(r: Results) -> list[list[str]]:
    rows = quality_rows(r)
    runs = [(f"seed {row['seed']}", row) for row in rows]
    g = QUALITY_GOALS
    spec: list[tuple[str, Callable[[dict[str, Any]], str], list[Goal]]] = [
        (
            "won ROC-AUC / AUC of the true probabilities",
            lambda x: f"{x['won_auc']:.3f} / {x['won_auc_true_probs']:.3f} ({x['won_auc_ratio_to_truth']:.1%})",
            [g["auc_to_truth"]],
        ),
        (
            "default `LGBMClassifier()` on the same leads",
            lambda x: f"{x['default_lgbm_won_auc']:.3f} ({_pct(x['default_lgbm_won_auc'], x['won_auc_true_probs'])})",
            [g["beats_default_lgbm"]],
        ),
        (
            "won ROC-AUC of logistic regression (same holdout)",
            lambda x: f"{x['won_auc_logreg']:.3f}",
            [g["beats_logreg_won"]],
        ),
        (
            "accepted ROC-AUC (logistic regression)",
            lambda x: f"{x['accepted_auc']:.3f} ({x['accepted_auc_logreg']:.3f})",
            [g["beats_logreg_accepted"]],
        ),
        (
            "ECE won / accepted (after calibration)",
            lambda x: f"{x['won_ece']:.3f} / {x['accepted_ece']:.3f}",
            [g["ece_won"], g["ece_accepted"]],
        ),
        (
            "predicted / actual total revenue (truth / actual)",
            lambda x: f"{x['revenue_predicted_over_actual']:.2f} ({x['revenue_truth_over_actual']:.2f})",
            [g["revenue"]],
        ),
        (
            "refit model on the later leads: won AUC (% of truth)",
            lambda x: (
                f"{x['refit_future_won_auc']:.3f} "
                f"({_pct(x['refit_future_won_auc'], x['refit_future_won_auc_true_probs'])})"
            ),
            [],
        ),
        (
            "refit model on later leads: ECE won / accepted",
            lambda x: f"{x['refit_future_won_ece']:.3f} / {x['refit_future_accepted_ece']:.3f}",
            [g["refit_ece_won"], g["refit_ece_accepted"]],
        ),
        (
            "refit model on later leads: predicted / actual revenue",
            lambda x: f"{x['refit_future_revenue_over_actual']:.2f}",
            [g["refit_revenue"]],
        ),
    ]
    head = ["", *(label for label, _ in runs), "goal"]
    body = [[label, *(cell(x) for x in rows), _verdict(goals, runs) if goals else ""] for label, cell, goals in spec]
    return [head, ["---"] * len(head), *body]


def table_realdata(r: Results) -> list[list[str]]:
    labels = {"random": "random (no `created_at`)", "time": "by time (most recent 20% held out)"}
    out = [["split", "tool won AUC / ECE", "`LGBMClassifier()`", "logistic regression", "gate"], ["---"] * 5]
    for s in r["realdata"]["splits"]:
        lgbm, logreg = s["baselines"]["lgbm"], s["baselines"]["logreg"]
        gate = "promoted" if s["promoted"] else "**refused**: " + "; ".join(s["refusal"])
        out.append(
            [
                labels[s["split"]],
                f"{s['tool']['auc']:.3f} / {s['tool']['ece']:.3f}",
                f"{lgbm['auc']:.3f} / {lgbm['ece']:.3f}",
                f"{logreg['auc']:.3f} / {logreg['ece']:.3f}",
                gate,
            ]
        )
    return out


def table_attribution(r: Results) -> list[list[str]]:
    runs = r["attribution"]
    seeds = " / ".join(str(run["seed"]) for run in runs)
    rules = {
        "first_touch": "first touch (the verdicts' rule)",
        "last_touch": "last touch",
        "linear": "linear",
        "position_based": "position-based 40/20/40",
    }
    out = [["rule", f"credit given to the wrong campaigns (seed {seeds})", "rank correlation with the truth"]]
    out.append(["---"] * 3)
    for rule, label in rules.items():
        shares = " / ".join(f"{run['recovery'][rule]['misassigned_share']:.3f}" for run in runs)
        ranks = " / ".join(f"{run['recovery'][rule]['rank_correlation']:.2f}" for run in runs)
        out.append([label, shares, ranks])
    return out


def table_serving(r: Results) -> list[list[str]]:
    s, g = r["serving"], SERVING_GOALS
    one, livez = s["one_lead_explained_ms"], s["http_floor_livez_ms"]
    ratio = s["ratios_to_raw_booster"]

    def raw(workload: str) -> str:
        seconds = s[workload]["raw_booster_s"]
        return f"{seconds * 1e3:.0f} ms ({1000 / seconds:,.0f} leads/s)"

    def verdict(*names: str) -> str:
        return "; ".join(_verdict([g[n]], [("", s)]).replace(" ()", "") for n in names)

    return [
        ["", "service", "raw boosters (same run)", "goal"],
        ["---"] * 4,
        [
            "one lead with explanation",
            f"p50 {one['p50']:.1f} ms, p99 {one['p99']:.1f} ms",
            f"{one['raw_booster']:.1f} ms; `/livez` p50 {livez['p50']:.1f} ms, p99 {livez['p99']:.1f} ms",
            verdict("one_lead_p99"),
        ],
        [
            "batch of 1000, scores only",
            f"{s['batch_scores']['leads_per_s']:,.0f} leads/s, **{ratio['batch_scores']:.1f}× raw**",
            raw("batch_scores"),
            verdict("batch_scores_speed", "batch_scores_to_raw"),
        ],
        [
            "batch of 1000 with explanations",
            f"{s['batch_explained']['leads_per_s']:,.0f} leads/s, **{ratio['batch_explained']:.1f}× raw**",
            raw("batch_explained"),
            verdict("batch_explained_speed"),
        ],
    ]


def _scale_rows(r: Results, full: bool) -> list[list[str]]:
    sizes, growth = r["scale"]["sizes"], r["scale"]["growth_per_10x"]
    head = ["leads", "pipeline s", "× per 10×", "bare LightGBM s", "pipeline ÷ bare", "training peak MB"]
    head += ["scoring s (CSV, `--reasons 0`)" if full else "scoring s", "× per 10×"]
    head += ["leads/s", "scoring peak MB", "× per 10×"] if full else ["scoring peak MB"]
    out = [head, ["---:"] * len(head)]
    for i, size in enumerate(sizes):
        t, sc = size["train"], size["score"]

        def grown(key: str, i: int = i) -> str:
            return "" if growth[key][i] is None else f"{growth[key][i]:.2f}"

        row = [f"{size['rows']:,}", f"{t['pipeline_s']:.1f}", grown("train_s"), f"{t['bare_lightgbm_s']:.1f}"]
        row += [f"{t['ratio_to_bare']:.2f}", f"{t['peak_rss_mb']:,}", f"{sc['seconds']:.1f}", grown("score_s")]
        row += (
            [f"{sc['leads_per_s']:,}", f"{sc['peak_rss_mb']:,}", grown("score_peak_rss")]
            if full
            else [f"{sc['peak_rss_mb']:,}"]
        )
        out.append(row)
    return out


def table_scale_phases(r: Results) -> list[list[str]]:
    out = [
        [
            "leads",
            "validating",
            "leak check",
            "fitting: all",
            "fitting: inside `lightgbm.train`",
            "holdout metrics + baselines",
        ]
    ]
    out.append(["---:"] * 6)
    for size in r["scale"]["sizes"]:
        t = size["train"]
        phases = ("validating", "checking for leaky", "fitting", "evaluating")
        seconds = [next(v for k, v in t["phases_s"].items() if k.startswith(p)) for p in phases]
        cells = [*(f"{s:.1f}" for s in seconds[:3]), f"{t['lightgbm_inside_pipeline_s']:.1f}", f"{seconds[3]:.1f}"]
        out.append([f"{size['rows']:,}", *cells])
    return out


def table_scale_requests(r: Results) -> list[list[str]]:
    sized = next(size["requests"] for size in r["scale"]["sizes"] if "requests" in size)
    head = ["leads per request", "scores only: ms per request", "leads/s per worker", "with reasons (k=2): ms"]
    out = [[*head, "leads/s per worker"], ["---:"] * 5]
    for n in (k for k in sized if not k.endswith("_explained")):
        plain, explained = sized[n], sized[f"{n}_explained"]
        out.append(
            [
                n,
                f"{plain['ms']:.0f}",
                f"{plain['leads_per_s']:,}",
                f"{explained['ms']:.0f}",
                f"{explained['leads_per_s']:,}",
            ]
        )
    return out


def _reliability_script() -> Any:
    """benchmarks/reliability.py, whose `ROWS` name each count and its goal (standard library only)."""
    spec = importlib.util.spec_from_file_location("reliability", Path(__file__).with_name("reliability.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def table_reliability(r: Results) -> list[list[str]]:
    """README's summary: counts joined per scenario, goals 0 unless said."""
    c = r["reliability"]

    def n(*keys: str) -> int:
        return sum(c.get(k, 0) for k in keys)  # the script counts failures as they happen: absent means none

    rows = [
        ("fuzzed requests against the live OpenAPI schema (5 operations, valid and invalid)", [n("fuzz_cases")], ""),
        ("5xx responses / 4xx without a JSON error body", [n("fuzz_5xx"), n("fuzz_unexplained_4xx")], "0"),
        (
            "overload burst requests / answered 429 / 5xx or dropped",
            [n("overload_requests"), n("overload_429"), n("overload_5xx_or_dropped")],
            "0 failures, health checks answered",
        ),
        ("requests during a hot swap of the champion / failed", [n("swap_requests"), n("swap_failed_requests")], "0"),
        (
            "acknowledged feedback events / rows lost / stored twice (locked DB, dropped connection, restart)",
            [n("feedback_acknowledged"), n("feedback_rows_lost"), n("feedback_rows_duplicated")],
            "0",
        ),
        (
            "places searched for a PII canary (logs, error bodies, `/metrics`, MLflow files) / hits",
            [n("pii_places_searched"), n("pii_hits")],
            "0",
        ),
        (
            "DNS rebinding, cross-site and non-JSON posts, admin calls with the scoring token / accepted",
            [
                n("rebinding_requests", "cross_site_requests"),
                n("rebinding_served", "cross_site_accepted", "admin_with_scoring_token"),
            ],
            "0",
        ),
        (
            "wrong tokens in a row / answered other than 429 after the first 10",
            [n("token_guesses"), n("token_guesses_answered_after_the_limit")],
            "0",
        ),
        (
            "hostile text (`$` in charts, lone surrogates, oversized values and bodies) / failures or accepted",
            [
                n("charts_with_user_text", "bad_text_requests", "oversized_requests"),
                n("chart_failures", "bad_text_5xx", "oversized_accepted"),
            ],
            "0",
        ),
        (
            "random 404 paths / new `/metrics` series",
            [n("unknown_paths_sent"), n("metrics_series_from_unknown_paths")],
            "0",
        ),
        (
            "CLI runs with bad files, outputs or models / tracebacks / short CSV rows unreported",
            [n("cli_runs_with_bad_input"), n("cli_tracebacks"), n("short_rows_unreported")],
            "0",
        ),
    ]
    out = [["", "count", "goal"], ["---", "---:", "---"]]
    return out + [[label, " / ".join(str(v) for v in values), goal] for label, values, goal in rows]


def table_reliability_full(r: Results) -> list[list[str]]:
    """docs/reliability.md: every count the script prints, with its label and goal."""
    c = r["reliability"]
    out = [["", "count", "goal"], ["---", "---:", "---"]]
    for label, key, goal in _reliability_script().ROWS:
        name = f"… {label.strip()}" if label.startswith(" ") else label
        out.append([name, str(c.get(key, 0)), "" if goal is None else str(goal)])
    return out


TABLES: dict[str, Callable[[Results], list[list[str]]]] = {
    "quality": table_quality,
    "realdata": table_realdata,
    "attribution": table_attribution,
    "serving": table_serving,
    "scale": lambda r: _scale_rows(r, full=False),
    "scale_full": lambda r: _scale_rows(r, full=True),
    "scale_phases": table_scale_phases,
    "scale_requests": table_scale_requests,
    "reliability": table_reliability,
    "reliability_full": table_reliability_full,
}


def _leak_finding(r: Results) -> str:
    """The leak check's words for `duration`, after its "- 'duration' (won): " prefix."""
    return r["realdata"]["leak_check_with_duration"][0].split(": ", 1)[1]


def _isotonic_gap(r: Results, key: str) -> float:
    rows = {(row["seed"], row["calibration"]): row for row in r["quality"]}
    return max(
        abs(row[key] - rows[(row["seed"], "sigmoid")][key]) for row in r["quality"] if row["calibration"] == "isotonic"
    )


def _attribution_wrong_range(r: Results) -> str:
    """The least and most credit a multi-touch rule gave the wrong campaigns, over the seeds."""
    recovery = [run["recovery"] for run in r["attribution"]]
    shares = [v["misassigned_share"] for rules in recovery for rule, v in rules.items() if rule != "first_touch"]
    return f"{min(shares):.2f}–{max(shares):.2f}"


CALC: dict[str, Callable[[Results], Any]] = {
    "attribution_wrong_range": _attribution_wrong_range,
    "leak_finding": _leak_finding,
    "isotonic_auc_gap": lambda r: _isotonic_gap(r, "won_auc"),
    "isotonic_ece_gap": lambda r: max(_isotonic_gap(r, "won_ece"), _isotonic_gap(r, "accepted_ece")),
    "serving_raw_scores_leads_per_s": lambda r: 1000 / r["serving"]["batch_scores"]["raw_booster_s"],
    "serving_booster_share": lambda r: 1 / r["serving"]["ratios_to_raw_booster"]["batch_scores"],
    "scale_total_minutes": lambda r: r["scale"]["total_s"] / 60,
}

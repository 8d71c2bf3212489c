"""Diagnostic figures logged with every training run."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shap

from leadscore.features.config import describe
from leadscore.models.scorer import PROBABILITY_HEADS, LeadScorer, targets

matplotlib.rcParams["text.parse_math"] = False  # column names and values are drawn as written: "$" is not math


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def reliability_plot(ys: dict[str, np.ndarray], ps: dict[str, np.ndarray], path: Path, bins: int = 10) -> Path:
    """Observed vs predicted rate per equal-count bin, one line per head."""
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="perfect")
    for head, p in ps.items():
        order = np.argsort(p)
        chunks = [c for c in np.array_split(order, bins) if len(c)]
        ax.plot([p[c].mean() for c in chunks], [ys[head][c].mean() for c in chunks], marker="o", label=head)
    top = max(float(max(p.max() for p in ps.values())), 0.05)
    ax.set(xlim=(0, top), ylim=(0, top), xlabel="predicted probability", ylabel="observed rate")
    ax.set_title("Reliability on the holdout")
    ax.legend()
    return _save(fig, path)


def reliability_table_plot(table: pd.DataFrame, path: Path) -> Path:
    """Live calibration: predicted vs observed acceptance per score decile, point size by leads."""
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="perfect")
    ax.scatter(
        table["predicted"], table["observed"], s=20 + 200 * table["leads"] / table["leads"].max(), label="decile"
    )
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="predicted acceptance", ylabel="observed (sales decisions)")
    ax.set_title("Live reliability by score decile")
    ax.legend()
    return _save(fig, path)


def monthly_rate_plot(table: pd.DataFrame, path: Path) -> Path:
    """Outcome rate per month of creation over the whole history, with the decided leads behind each month."""
    fig, ax = plt.subplots(figsize=(8, 4))
    for column in (c for c in table.columns if c.endswith("_rate")):
        ax.plot(table["month"], table[column], marker="o", label=column.removesuffix("_rate"))
    ax.set(xlabel="month of creation", ylabel="rate among decided leads")
    ax.set_title("Outcome rate by month")
    ax.tick_params(axis="x", labelrotation=60)
    ax.legend()
    return _save(fig, path)


def gain_plot(ys: dict[str, np.ndarray], ranking: np.ndarray, path: Path) -> Path:
    """Cumulative gain (share of each outcome captured) and lift against share of leads worked."""
    order = np.argsort(-ranking, kind="stable")
    share = np.arange(1, len(order) + 1) / len(order)
    fig, (gain_ax, lift_ax) = plt.subplots(1, 2, figsize=(10, 4))
    gain_ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="random")
    for name, y in ys.items():
        captured = np.cumsum(y[order]) / max(y.sum(), 1e-12)
        gain_ax.plot(share, captured, label=name)
        lift_ax.plot(share[len(share) // 50 :], (captured / share)[len(share) // 50 :], label=name)
    gain_ax.set(xlabel="share of leads, best score first", ylabel="share captured", title="Cumulative gain")
    lift_ax.set(xlabel="share of leads, best score first", ylabel="lift", title="Lift")
    gain_ax.legend()
    lift_ax.legend()
    return _save(fig, path)


def shap_summary_plot(scorer: LeadScorer, X: np.ndarray, head: str, path: Path) -> Path:
    """Beeswarm of per-column TreeSHAP contributions for one head."""
    contrib = scorer.contributions(X, head)
    first_piece = (
        pd.DataFrame(X, columns=scorer.transformer_.feature_names_out_)
        .T.groupby(scorer.transformer_.sources_, sort=False)
        .first()
        .T
    )
    explanation = shap.Explanation(
        values=contrib.to_numpy(),
        data=first_piece.to_numpy(),
        feature_names=[describe(scorer.labels, name)[0] for name in contrib.columns],
    )
    plt.figure()
    shap.plots.beeswarm(explanation, max_display=15, show=False)
    fig = plt.gcf()
    fig.suptitle(f"SHAP contributions, {head} head (log-odds)")
    return _save(fig, path)


def importance_plot(scorer: LeadScorer, path: Path) -> Path:
    """Total gain per original column, per head."""
    frames = {}
    for head, booster in scorer.heads_.items():
        gain = pd.Series(booster.feature_importance("gain"), index=scorer.transformer_.feature_names_out_)
        frames[head] = gain.groupby(scorer.transformer_.sources_).sum()
    table = pd.DataFrame(frames).fillna(0)
    table = table / table.sum()
    table = table.loc[table.sum(axis=1).sort_values().index]
    table.index = [describe(scorer.labels, name)[0] for name in table.index]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(table) + 1.5))
    table.plot.barh(ax=ax)
    ax.set(xlabel="share of total gain", title="Feature importance by head")
    return _save(fig, path)


def training_plots(scorer: LeadScorer, holdout: pd.DataFrame, out_dir: Path) -> list[Path]:
    """All run figures for a holdout, written to `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    X = scorer.transformer_.transform(holdout)
    y = targets(holdout, scorer.data)
    heads = scorer.heads_output(X)
    ranking = scorer.expected_value(X)
    paths = [
        reliability_plot({h: y[h] for h in heads.calibrated}, heads.calibrated, out_dir / "reliability.png"),
        gain_plot(y, ranking, out_dir / "gain_lift.png"),
        importance_plot(scorer, out_dir / "feature_importance.png"),
    ]
    paths += [
        shap_summary_plot(scorer, X, h, out_dir / f"shap_{h}.png") for h in PROBABILITY_HEADS if h in scorer.heads_
    ]
    return paths

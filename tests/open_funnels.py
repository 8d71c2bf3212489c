"""Lead files with open deals, maturing outcomes and a win rate that moves: what a live pipeline looks like.

Built from the synthetic funnel (its features), with outcomes blanked or redrawn here, so the shapes the
tests need (open deals, deals that have not had time to close) do not depend on the demo generator's rates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadscore.datasets.synthetic import QUALIFICATION_TOML, generate_funnel

OUTCOMES = ["accepted", "won", "revenue"]

CRM_TOML = """\
[data]
id = "lead_id"
created_at = "created_at"
campaign = "campaign"
channel = "channel"
account = "account"
won = "won"
revenue = "revenue"
exclude = ["email", "full_name", "sales_status", "accepted"]

[training]
min_rows = 500
min_positives = 50
""" + "\n" + QUALIFICATION_TOML


def crm_pipeline(n: int = 4000, seed: int = 3, open_share: float = 0.2) -> pd.DataFrame:
    """A CRM opportunities export: won/revenue only, accounts on each deal, and `open_share` of the deals still
    open (empty won and revenue), most of them recent; many open deals have no account yet."""
    leads = generate_funnel(n, seed=seed)[0]
    rng = np.random.default_rng(seed)
    frame = leads.copy()
    frame[OUTCOMES] = frame[OUTCOMES].astype(float)
    age_rank = np.arange(n)[::-1] / n  # 0 for the newest lead
    weight = np.exp(-age_rank * 6)
    open_rows = rng.choice(n, size=int(open_share * n), replace=False, p=weight / weight.sum())
    frame.loc[frame.index[open_rows], ["won", "revenue"]] = np.nan
    frame["account"] = "ACC" + pd.Series(rng.integers(0, n // 4, n), index=frame.index).astype(str).str.zfill(5)
    is_open = frame["won"].isna().to_numpy()
    no_account = is_open & (rng.random(n) < 0.8) | (~is_open & (rng.random(n) < 0.05))
    frame.loc[no_account, "account"] = np.nan
    return frame


MATURING_TOML = """\
[data]
id = "lead_id"
created_at = "created_at"
campaign = "campaign"
channel = "channel"
decided_at = "won_at"
won = "won"
exclude = ["email", "full_name", "sales_status", "accepted", "revenue"]
"""


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def drifting_funnel(
    n: int = 10000,
    seed: int = 5,
    later_share: float = 0.2,
    swing: tuple[float, float, float] = (-0.7, 0.5, -0.3),
    peak: float = 0.6,
    median_days: float = 25.0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(history, later): a funnel whose win rate rises and then falls (`swing`: the log-odds shift at the start,
    at `peak` of the time span and at its end), where a win takes a lognormal time to close (median
    `median_days`).

    `history` is the export taken at the creation of its newest lead: wins not closed by then read won = 0 and
    carry no `won_at` (their outcome is still maturing). `later` are the leads after it, with their eventual
    outcomes, on which a model trained on `history` is judged."""
    leads, truth = generate_funnel(n, seed=seed)
    rng = np.random.default_rng(seed + 100)
    created = pd.to_datetime(leads["created_at"])
    span = (created - created.min()) / (created.max() - created.min())
    shift = np.interp(span.to_numpy(float), [0.0, peak, 1.0], list(swing))
    p = 1 / (1 + np.exp(-(_logit(truth["p_won_true"].to_numpy(float)) + shift)))
    eventual = rng.random(n) < p
    takes = pd.to_timedelta(np.exp(np.log(median_days) + 0.8 * rng.standard_normal(n)), unit="D")
    frame = leads.drop(columns=["won", "revenue"]).assign(won=eventual.astype(int))
    cut = int(n * (1 - later_share))
    history, later = frame.iloc[:cut].copy(), frame.iloc[cut:].copy()
    export = created.iloc[cut - 1]
    won_at = created.iloc[:cut] + takes[:cut]
    closed = eventual[:cut] & (won_at <= export).to_numpy()
    history["won"] = closed.astype(int)
    history["won_at"] = won_at.where(closed)
    return history, later

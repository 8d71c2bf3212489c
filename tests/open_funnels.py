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

"""`leadscore report accounts`: a lead file scored as of a moment and rolled up to its accounts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from leadscore.datasets.files import load_responses, load_table
from leadscore.features.coerce import normalize_text
from leadscore.features.config import ConfigError, LeadscoreConfig
from leadscore.features.outcomes import is_open
from leadscore.marketing.accounts import NOTE, TOP_REASONS, engaged, roll_up
from leadscore.marketing.insights import outcome_frame
from leadscore.models.scorer import LeadScorer


@dataclass(frozen=True)
class AccountReport:
    """Accounts rolled up, the scored people behind them, and when they were scored."""

    accounts: pd.DataFrame
    people: pd.DataFrame
    as_of: pd.Timestamp
    no_account: int = 0
    """Leads of the file without an account: left out of every account, counted here."""
    no_account_open: int = 0
    """Of those, the open ones (no outcome yet)."""
    note: str = NOTE


def account_report(
    data_path: Path, config: LeadscoreConfig, config_path: Path, scorer: LeadScorer, as_of: pd.Timestamp | None = None
) -> AccountReport:
    """Score a lead file as of a moment (default now; behaviour from the responses before it) and roll its
    leads up to their accounts (`[data].account`). Leads without an account are left out and counted; each
    account counts its open people (no outcome yet, `features.outcomes.is_open`) apart."""
    data = config.data
    if data.account is None:
        raise ConfigError('accounts need an account column: add account = "<column>" to [data]')
    frame = load_table(data_path)
    if data.account not in frame.columns:
        raise ConfigError(f"{data_path} has no account column '{data.account}'")
    moment = as_of if as_of is not None else pd.Timestamp.now(tz="UTC")
    responses = load_responses(config, config_path)
    if scorer.responses is not None and responses is None:
        raise ConfigError("the model uses response features: the config needs [responses]")
    account = normalize_text(frame[data.account].astype("string"), data.missing_values)
    pending, has_account = is_open(outcome_frame(frame, data)).to_numpy(bool), account.notna().to_numpy(bool)
    frame = frame[has_account]
    scored_frame = scorer.with_responses(frame, responses, moment)
    X, status = scorer.transformer_.transform_with_status(scored_frame)
    scores = scorer.predict_matrix(X)
    reasons = scorer.explain_transformed(scored_frame, X, status, k=TOP_REASONS)
    people = pd.DataFrame(
        {
            "account": account[account.notna()].astype(str).to_numpy(),
            "lead_id": frame[data.id].astype(str).to_numpy(),
            "score": scores["score"].to_numpy(),
            "grade": scores["grade"].to_numpy(),
            "p_won": scores["p_won"].to_numpy(),
            "expected_revenue": scores["expected_revenue"].to_numpy(),
            "engaged": engaged(frame[data.id], responses, moment).to_numpy(),
            "open": pending[has_account],
        }
    )
    accounts = roll_up(people, reasons)
    open_people = people.groupby("account")["open"].sum()
    accounts.insert(2, "open_people", accounts["account"].map(open_people).fillna(0).astype(int))
    no_account = ~has_account
    return AccountReport(accounts, people, moment, int(no_account.sum()), int((no_account & pending).sum()))

"""Synthetic B2B response funnel with known ground truth.

Why: tests need data where the true acceptance/win probabilities and expected
revenue are known, so they can check that a model recovers the structure, and
``leadscore demo-data`` needs a realistic-looking data set to play with.

The generating process, in short:

* ``created_at`` is uniform over ``[start, end]``; rows are sorted by time.
* the campaign mix drifts over time (each campaign has a log-share trend).
* firmographics (industry, country, seniority) are independent of campaign,
  company size depends on channel (and on ``shift``).
* engagement counts depend on a latent intent, which better campaigns raise.
* ``accepted ~ Bernoulli(sigmoid(logit_a))`` and
  ``won | accepted ~ Bernoulli(sigmoid(logit_w))`` depend only on observed
  features plus the *true* company size (which is hidden as NaN for ~10% of
  rows), and ``revenue | won`` is lognormal.

Everything is drawn from ``numpy.random.default_rng`` seeded per chunk from
``seed`` so output is deterministic for a given ``(n, seed, start, end, shift)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from leadscore.datasets.files import writable_output, write_csv

__all__ = [
    "CAMPAIGNS",
    "CHUNK_SIZE",
    "CONFIG_TOML",
    "DATA_TOML",
    "JOURNEY_CONFIG_TOML",
    "QUALIFICATION_TOML",
    "CampaignSpec",
    "Journeys",
    "generate_funnel",
    "generate_journeys",
    "write_demo_data",
]

CHUNK_SIZE = 100_000
"""Rows per generation chunk; fixed so that output never depends on progress reporting."""


@dataclass(frozen=True, slots=True)
class CampaignSpec:
    """One marketing campaign: why it exists is to give the funnel a known campaign effect.

    ``quality`` is added to the acceptance logit (and ``WIN_QUALITY_WEIGHT`` times it to
    the win logit); ``base_share`` is the relative volume at ``start``; ``trend`` is the
    change in log-share per year, so the campaign mix drifts over time.
    """

    channel: str
    quality: float
    base_share: float
    trend: float = 0.0


CAMPAIGNS: dict[str, CampaignSpec] = {
    "partner_referral_q": CampaignSpec("partner", 1.2, 0.05, 0.10),
    "customer_referral": CampaignSpec("referral", 0.9, 0.04, 0.05),
    "webinar_data_leaders": CampaignSpec("webinar", 0.8, 0.07, 0.20),
    "trade_show_saas_summit": CampaignSpec("trade_show", 0.4, 0.05, -0.30),
    "paid_search_brand": CampaignSpec("paid_search", 0.5, 0.10, 0.00),
    "paid_search_generic": CampaignSpec("paid_search", -0.2, 0.14, -0.10),
    "paid_social_linkedin": CampaignSpec("paid_social", -0.1, 0.10, 0.25),
    "paid_social_meta": CampaignSpec("paid_social", -0.7, 0.07, 0.15),
    "content_syndication_ebook": CampaignSpec("content_syndication", -1.4, 0.11, 0.35),
    "content_syndication_report": CampaignSpec("content_syndication", -0.9, 0.07, 0.10),
    "email_nurture": CampaignSpec("email", 0.0, 0.12, -0.20),
    "organic_blog": CampaignSpec("organic", 0.1, 0.08, 0.00),
}

RESPONSE_TYPES: dict[str, str] = {
    "partner": "referral",
    "referral": "referral",
    "webinar": "webinar",
    "trade_show": "event",
    "paid_search": "form_fill",
    "paid_social": "ad_click",
    "content_syndication": "download",
    "email": "email_click",
    "organic": "download",
}
"""The response type a touch through each channel makes."""
MID_FUNNEL: dict[str, str] = {
    "webinar_customer_stories": "webinar",
    "email_case_studies": "email",
    "roi_calculator": "organic",
}
"""Campaigns that never create a lead but touch existing ones: first-touch credit cannot see them."""
TOUCH_INFLUENCE: dict[str, float] = {
    "partner_referral_q": 0.1,
    "customer_referral": 0.1,
    "webinar_data_leaders": 0.5,
    "trade_show_saas_summit": 0.3,
    "paid_search_brand": 0.05,
    "paid_search_generic": 0.0,
    "paid_social_linkedin": 0.05,
    "paid_social_meta": 0.0,
    "content_syndication_ebook": 0.0,
    "content_syndication_report": 0.05,
    "email_nurture": 0.15,
    "organic_blog": 0.1,
    "webinar_customer_stories": 0.7,
    "email_case_studies": 0.35,
    "roi_calculator": 0.6,
}
"""The truth of campaign influence: what each response before the decision adds to the acceptance logit
(`WIN_QUALITY_WEIGHT` times it to the win logit), whichever campaign made the lead."""
TOUCH_SHARE: dict[str, float] = {
    "partner_referral_q": 0.01,
    "customer_referral": 0.01,
    "webinar_data_leaders": 0.08,
    "trade_show_saas_summit": 0.02,
    "paid_search_brand": 0.08,
    "paid_search_generic": 0.04,
    "paid_social_linkedin": 0.08,
    "paid_social_meta": 0.05,
    "content_syndication_ebook": 0.06,
    "content_syndication_report": 0.02,
    "email_nurture": 0.20,
    "organic_blog": 0.10,
    "webinar_customer_stories": 0.08,
    "email_case_studies": 0.10,
    "roi_calculator": 0.07,
}
"""Which campaign a later touch comes from (relative shares)."""
DECISION_DAYS = 14.0
"""Sales decide this many days after a lead is created: touches before then shape the outcome, later ones
(more of them on accepted and won leads) must never reach a training row."""
_TOUCH_CENTER = 0.3
"""Subtracted from every lead's total influence so acceptance and win rates stay near the touch-free funnel."""

DATA_TOML = """\
# leadscore.toml -- configuration for the synthetic demo data set
# (written by `leadscore demo-data`; see datasets/synthetic.py).
# Maps the roles leadscore needs onto column names; every other column is a
# feature unless listed in `exclude` (PII and leaky post-contact columns).

[data]
id = "lead_id"
created_at = "created_at"
campaign = "campaign"
channel = "channel"
accepted = "accepted"
won = "won"
revenue = "revenue"
exclude = ["email", "full_name", "sales_status"]
"""

JOURNEY_TOML = """\
# leadscore.toml -- configuration for the synthetic demo data set with response events
# (written by `leadscore demo-data`; see datasets/synthetic.py).

[data]
id = "lead_id"
created_at = "created_at"
campaign = "campaign"
channel = "channel"
account = "account"
accepted = "accepted"
won = "won"
revenue = "revenue"
exclude = ["email", "full_name", "sales_status"]

[responses]                 # one row per response: a form fill, a webinar, a download, a click
path = "responses.csv"
event_id = "event_id"
lead_id = "lead_id"
timestamp = "responded_at"
campaign = "campaign"
response_type = "response_type"
channel = "channel"
windows_days = [7, 30, 90]
half_life_days = 14
decision_window_days = 14   # training rows see responses up to created_at + 14 days, when sales decided
"""

QUALIFICATION_TOML = """\
# What sales and marketing agreed a sales-ready lead is (see README, "Lead definition").
[qualification]
min_score = 50
flag_score = 85
readiness_mode = "any"

[qualification.fit]
company_size = { min = 20, missing = "pass" }
seniority = { not_in = ["intern"] }
country = { in = ["US", "GB", "DE", "FR", "NL", "CA", "AU"] }

[qualification.readiness]
demo_requested = { equals = "yes" }
pricing_page_views = { min = 1 }

[qualification.exclude]
email_domain = { in = ["gmail.com", "yahoo.com", "hotmail.com"] }
industry = { in = ["education"] }
"""

CONFIG_TOML = DATA_TOML + "\n" + QUALIFICATION_TOML
JOURNEY_CONFIG_TOML = JOURNEY_TOML + "\n" + QUALIFICATION_TOML

# --- distributions (module-level constants, no side effects) -------------------------

WIN_QUALITY_WEIGHT = 0.6
SHIFT_CHANNEL_BOOST: dict[str, float] = {"content_syndication": 4.0, "paid_social": 2.5}
SHIFT_LOG_SIZE = 0.8
MISSING_SIZE_SHARE = 0.10
_REF_LOG_SIZE = float(np.log(200.0))

INDUSTRIES: dict[str, float] = {  # share
    "software": 0.28,
    "financial_services": 0.16,
    "manufacturing": 0.14,
    "healthcare": 0.12,
    "retail": 0.11,
    "professional_services": 0.105,
    "education": 0.08,
    "government": 0.005,
}
COUNTRIES: dict[str, float] = {
    "US": 0.38,
    "GB": 0.14,
    "DE": 0.11,
    "BR": 0.10,
    "FR": 0.08,
    "CA": 0.08,
    "AU": 0.06,
    "NL": 0.05,
}
SENIORITIES: dict[str, float] = {
    "intern": 0.05,
    "individual": 0.35,
    "manager": 0.28,
    "director": 0.17,
    "vp": 0.10,
    "c_level": 0.05,
}
PRODUCTS: tuple[str, ...] = ("core", "analytics", "enterprise_suite", "add_on")

_CHANNEL_LOG_SIZE: dict[str, float] = {
    "partner": 0.4,
    "referral": 0.2,
    "trade_show": 0.5,
    "webinar": 0.1,
    "paid_search": 0.0,
    "paid_social": -0.3,
    "content_syndication": -0.2,
    "email": 0.0,
    "organic": -0.1,
}
_CHANNEL_DOWNLOAD_BOOST: dict[str, float] = {"content_syndication": 1.2, "webinar": 0.5}
_CHANNEL_EMAIL_BOOST: dict[str, float] = {"email": 0.8}

# logit contributions
_ACCEPT_INTERCEPT = -1.5
_WIN_INTERCEPT = -2.0
_SEN_ACCEPT = {"intern": -1.5, "individual": -0.4, "manager": 0.0, "director": 0.35, "vp": 0.5, "c_level": 0.4}
_SEN_WIN = {"intern": -1.0, "individual": -0.3, "manager": 0.0, "director": 0.25, "vp": 0.4, "c_level": 0.5}
_IND_ACCEPT = {
    "software": 0.3,
    "financial_services": 0.2,
    "manufacturing": 0.0,
    "healthcare": -0.1,
    "retail": -0.2,
    "professional_services": 0.1,
    "education": -0.4,
    "government": -0.6,
}
_PROD_WIN = {"core": 0.0, "analytics": 0.25, "enterprise_suite": 0.6, "add_on": -0.5}
_PROD_REV = {"core": 0.0, "analytics": 0.25, "enterprise_suite": 1.0, "add_on": -0.7}
_REV_LOG_BASE = float(np.log(9000.0))
_REV_SIGMA = 1.0

_FIRST_NAMES: tuple[str, ...] = (
    "ana", "bruno", "carla", "david", "elena", "felix", "grace", "hugo", "ines", "jonas",
    "karin", "liam", "maria", "nina", "omar", "paula", "quentin", "rosa", "sofia", "tomas",
    "ursula", "victor", "wei", "xavier", "yara", "zoe", "aisha", "ben", "chloe", "diego",
    "emma", "farid", "giulia", "hannah", "ivan", "julia", "kenji", "laura", "mateo", "noah",
)  # fmt: skip
_LAST_NAMES: tuple[str, ...] = (
    "silva", "smith", "muller", "garcia", "rossi", "dubois", "jansen", "nowak", "kim", "tanaka",
    "johnson", "brown", "schmidt", "martin", "lopez", "costa", "novak", "olsen", "berg", "walsh",
    "murphy", "singh", "chen", "wang", "patel", "khan", "fischer", "weber", "moreau", "bianchi",
    "santos", "ferreira", "clarke", "evans", "hughes", "kowalski", "larsen", "ivanova", "sato", "lee",
)  # fmt: skip


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically safe logistic; why: logits can be large for extreme leads."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _probs(d: dict[str, float]) -> np.ndarray:
    """Normalised probability vector from a share table (so tables need not sum exactly to 1)."""
    p = np.fromiter(d.values(), dtype=float)
    return p / p.sum()


def _sample_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """Draw one category index per row from row-specific probabilities (vectorised inverse CDF)."""
    cum = np.cumsum(probs, axis=1)
    cum /= cum[:, -1:]
    u = rng.random(probs.shape[0])
    return np.minimum((u[:, None] > cum).sum(axis=1), probs.shape[1] - 1)


def _lookup(table: dict[str, float], keys: list[str]) -> np.ndarray:
    """Vector of table values in ``keys`` order, for indexing by category codes."""
    return np.array([table.get(k, 0.0) for k in keys], dtype=float)


def _campaign_probs(years: np.ndarray, shift: bool) -> np.ndarray:
    """Row x campaign share matrix at each row's time; ``shift`` boosts low-quality channels."""
    specs = list(CAMPAIGNS.values())
    base = np.array([s.base_share for s in specs])
    trend = np.array([s.trend for s in specs])
    if shift:
        base = base * np.array([SHIFT_CHANNEL_BOOST.get(s.channel, 1.0) for s in specs])
    return base[None, :] * np.exp(trend[None, :] * years[:, None])


TOUCH_CAMPAIGNS: tuple[str, ...] = (*CAMPAIGNS, *MID_FUNNEL)
"""Campaigns a response can come from; a lead's own campaign has the same index here as in `CAMPAIGNS`."""


def _touch_channel(name: str) -> str:
    return CAMPAIGNS[name].channel if name in CAMPAIGNS else MID_FUNNEL[name]


def _draw_touches(
    rng: np.random.Generator, counts: np.ndarray, days: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, campaign code, days after creation) of `counts[i]` touches per row from the touch mix."""
    rows = np.repeat(np.arange(len(counts)), counts)
    camp = rng.choice(len(TOUCH_CAMPAIGNS), size=len(rows), p=_probs(TOUCH_SHARE))
    return rows, camp, rng.uniform(days[0], days[1], size=len(rows))


def _influence(m: int, rows: np.ndarray, camp: np.ndarray) -> np.ndarray:
    """Row x campaign matrix: the summed influence of each campaign's touches before the decision."""
    out = np.zeros((m, len(TOUCH_CAMPAIGNS)))
    np.add.at(out, (rows, camp), _lookup(TOUCH_INFLUENCE, list(TOUCH_CAMPAIGNS))[camp])
    return out


def _chunk(
    rng: np.random.Generator, years: np.ndarray, shift: bool, touch_rng: np.random.Generator | None = None
) -> dict[str, np.ndarray]:
    """Generate all per-row quantities for one chunk; returns raw arrays (codes, not labels). With `touch_rng`,
    responses are drawn too (from that stream, so the leads' other columns stay as without), and those before
    the decision move the outcomes by their campaign's `TOUCH_INFLUENCE`."""
    m = years.shape[0]
    names = list(CAMPAIGNS)
    specs = list(CAMPAIGNS.values())
    channels = sorted({s.channel for s in specs})
    quality_c = np.array([s.quality for s in specs])
    channel_of_c = np.array([channels.index(s.channel) for s in specs])

    # who: campaign (time-varying), firmographics (independent of campaign)
    camp = _sample_rows(rng, _campaign_probs(years, shift))
    chan = channel_of_c[camp]
    quality = quality_c[camp]
    ind = rng.choice(len(INDUSTRIES), size=m, p=_probs(INDUSTRIES))
    country = rng.choice(len(COUNTRIES), size=m, p=_probs(COUNTRIES))
    sen = rng.choice(len(SENIORITIES), size=m, p=_probs(SENIORITIES))

    log_size = (
        np.log(150.0)
        + _lookup(_CHANNEL_LOG_SIZE, channels)[chan]
        + (SHIFT_LOG_SIZE if shift else 0.0)
        + rng.normal(0.0, 1.3, size=m)
    )
    size_true = np.clip(np.rint(np.exp(log_size)), 1.0, 500_000.0)
    ls = np.log(size_true) - _REF_LOG_SIZE
    size_obs = np.where(rng.random(m) < MISSING_SIZE_SHARE, np.nan, size_true)

    # engagement: driven by latent intent, which better campaigns raise
    intent = rng.normal(0.0, 1.0, size=m) + 0.4 * quality
    frailty = rng.gamma(2.0, 0.5, size=m)  # shared over-dispersion -> negbin-like counts
    web = rng.poisson(frailty * np.exp(1.3 + 0.5 * intent))
    email_opens = rng.poisson(np.exp(1.0 + 0.3 * intent + _lookup(_CHANNEL_EMAIL_BOOST, channels)[chan]))
    downloads = rng.poisson(frailty * np.exp(-0.6 + 0.4 * intent + _lookup(_CHANNEL_DOWNLOAD_BOOST, channels)[chan]))
    pricing = rng.poisson(frailty * np.exp(-1.2 + 0.7 * intent))
    sen_level = np.array([-1.0, -0.3, 0.0, 0.3, 0.5, 0.5])[sen]
    demo = rng.random(m) < _sigmoid(-2.0 + 1.0 * intent + 0.8 * sen_level)
    days = np.round(rng.exponential(np.exp(2.6 - 0.5 * intent)), 1)
    prod_logits = np.stack(
        [
            np.zeros(m),
            np.full(m, -0.6),
            -1.6 + 0.5 * ls,
            np.full(m, -1.0),
        ],
        axis=1,
    )
    prod = _sample_rows(rng, np.exp(prod_logits))

    touches: dict[str, np.ndarray] = {}
    influence = np.zeros((m, len(TOUCH_CAMPAIGNS)))
    if touch_rng is not None:  # the lead's own campaign is its first response, at creation
        extra = touch_rng.poisson(0.6 * np.exp(0.4 * intent))
        rows, t_camp, t_day = _draw_touches(touch_rng, extra, (0.01, DECISION_DAYS))
        touches = {
            "t_row": np.concatenate([np.arange(m), rows]),
            "t_camp": np.concatenate([camp, t_camp]),
            "t_day": np.concatenate([np.zeros(m), t_day]),
        }
        influence = _influence(m, touches["t_row"], touches["t_camp"])
    lift = influence.sum(axis=1) - (_TOUCH_CENTER if touch_rng is not None else 0.0)

    # outcomes
    logit_a = lift + (
        _ACCEPT_INTERCEPT
        + quality
        + _lookup(_SEN_ACCEPT, list(SENIORITIES))[sen]
        + _lookup(_IND_ACCEPT, list(INDUSTRIES))[ind]
        + 0.45 * ls
        - 0.15 * ls**2  # ideal-customer-profile hump: mid-market fits best
        + 1.1 * demo
        + 0.8 * demo * (sen_level >= 0.3)  # a demo asked for by a decision maker counts most
        + 0.30 * np.minimum(pricing, 6)
        + 0.25 * np.log1p(web)
        - 0.9 * (days > 21)  # gone cold
    )
    logit_w = WIN_QUALITY_WEIGHT * lift + (
        _WIN_INTERCEPT
        + WIN_QUALITY_WEIGHT * quality
        + _lookup(_SEN_WIN, list(SENIORITIES))[sen]
        + _lookup(_PROD_WIN, list(PRODUCTS))[prod]
        + 0.5 * ls
        - 0.12 * ls**2
        + 0.8 * (prod == PRODUCTS.index("enterprise_suite")) * np.tanh(ls)  # suites sell to big firms only
        + 1.0 * demo
        + 0.15 * np.minimum(pricing, 6)
        + 0.10 * np.minimum(downloads, 5)
    )
    p_a = _sigmoid(logit_a)
    p_w_given_a = _sigmoid(logit_w)
    accepted = rng.random(m) < p_a
    won = accepted & (rng.random(m) < p_w_given_a)
    rev_mu = _REV_LOG_BASE + 0.4 * ls + _lookup(_PROD_REV, list(PRODUCTS))[prod]
    rev_draw = np.round(np.exp(rev_mu + _REV_SIGMA * rng.normal(0.0, 1.0, size=m)), 2)
    revenue = np.where(won, np.maximum(rev_draw, 0.01), 0.0)
    exp_rev_won = np.exp(rev_mu + 0.5 * _REV_SIGMA**2)
    if touch_rng is not None:
        # what each campaign's touches truly added: expected wins with them minus without them
        p_w = p_a * p_w_given_a
        without = _sigmoid(logit_a[:, None] - influence) * _sigmoid(logit_w[:, None] - WIN_QUALITY_WEIGHT * influence)
        touches["incremental_wins"] = (p_w[:, None] - without).sum(axis=0)
        # after the decision: sales-driven responses, more on accepted and won leads (a leak if ever counted)
        later = touch_rng.poisson(0.4 + 2.0 * accepted + 1.5 * won)
        rows, t_camp, t_day = _draw_touches(touch_rng, later, (DECISION_DAYS + 0.01, DECISION_DAYS + 75.0))
        touches |= {
            "t_row": np.concatenate([touches["t_row"], rows]),
            "t_camp": np.concatenate([touches["t_camp"], t_camp]),
            "t_day": np.concatenate([touches["t_day"], t_day]),
        }

    # leaky post-contact status: nearly a copy of the outcome
    u = rng.random(m)
    status = np.where(won, 0, np.where(accepted, np.where(u < 0.85, 1, 3), np.where(u < 0.95, 2, 3)))

    first = rng.integers(0, len(_FIRST_NAMES), size=m)
    last = rng.integers(0, len(_LAST_NAMES), size=m)
    num = rng.integers(1, 1000, size=m)

    return {
        "camp": camp,
        "chan_name": np.array(channels, dtype=object)[chan],
        "camp_name": np.array(names, dtype=object)[camp],
        "ind": ind,
        "country": country,
        "sen": sen,
        "size": size_obs,
        "web": web,
        "email_opens": email_opens,
        "downloads": downloads,
        "pricing": pricing,
        "demo": demo,
        "days": days,
        "prod": prod,
        "first": first,
        "last": last,
        "num": num,
        "status": status,
        "accepted": accepted,
        "won": won,
        "revenue": revenue,
        "p_a": p_a,
        "p_w": p_a * p_w_given_a,
        "exp_rev_won": exp_rev_won,
    } | touches


def _labels(values: tuple[str, ...] | list[str], codes: np.ndarray) -> pd.Series:
    """Map integer codes to a string Series quickly (via a categorical)."""
    return pd.Series(pd.Categorical.from_codes(codes, categories=list(values))).astype("str")


@dataclass(frozen=True)
class Journeys:
    """A simulated funnel with responses: leads, the per-lead truth, the response events and, per campaign,
    the truth of its influence (`TOUCH_INFLUENCE`) and the wins its touches truly added."""

    leads: pd.DataFrame
    truth: pd.DataFrame
    responses: pd.DataFrame
    campaign_truth: pd.DataFrame


_TOUCH_KEYS = ("t_row", "t_camp", "t_day", "incremental_wins")


def _simulate(
    n: int,
    seed: int,
    start: str,
    end: str,
    shift: bool,
    progress: Callable[[int], None] | None,
    touches: bool,
) -> tuple[dict[str, np.ndarray], np.ndarray, pd.Timestamp]:
    """The raw arrays of every chunk (touch rows re-based to the whole frame), creation offsets and start."""
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    t0, t1 = pd.Timestamp(start), pd.Timestamp(end)
    if t1 < t0:
        raise ValueError(f"end {end!r} is before start {start!r}")

    span_s = int((t1 - t0).total_seconds())
    time_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))
    offsets_s = np.sort(time_rng.integers(0, span_s + 1, size=n))
    years = offsets_s / (365.25 * 86400.0)

    parts: list[dict[str, np.ndarray]] = []
    for i, lo in enumerate(range(0, n, CHUNK_SIZE)):
        hi = min(lo + CHUNK_SIZE, n)
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, i)))
        touch_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2, i))) if touches else None
        part = _chunk(rng, years[lo:hi], shift, touch_rng)
        if touches:
            part["t_row"] = part["t_row"] + lo
        parts.append(part)
        if progress is not None:
            progress(hi)
    if not parts:
        empty = np.random.default_rng(seed)
        parts.append(_chunk(empty, years[:0], shift, empty if touches else None))
    raw = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if k != "incremental_wins"}
    if touches:
        raw["incremental_wins"] = np.sum([p["incremental_wins"] for p in parts], axis=0)
    return raw, offsets_s, t0


def _frames(
    n: int, raw: dict[str, np.ndarray], offsets_s: np.ndarray, t0: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Leads and per-lead truth from the raw arrays."""
    width = max(6, len(str(n)))
    lead_id = "L" + pd.Series(np.arange(1, n + 1)).astype("str").str.zfill(width)
    first = _labels(_FIRST_NAMES, raw["first"])
    last = _labels(_LAST_NAMES, raw["last"])
    email = first + "." + last + "." + pd.Series(raw["num"]).astype("str") + "@example.com"
    full_name = first.str.capitalize() + " " + last.str.capitalize()

    leads = pd.DataFrame(
        {
            "lead_id": lead_id,
            "created_at": t0 + pd.to_timedelta(offsets_s, unit="s"),
            "campaign": pd.Series(raw["camp_name"]).astype("str"),
            "channel": pd.Series(raw["chan_name"]).astype("str"),
            "industry": _labels(list(INDUSTRIES), raw["ind"]),
            "company_size": raw["size"].astype(float),
            "country": _labels(list(COUNTRIES), raw["country"]),
            "seniority": _labels(list(SENIORITIES), raw["sen"]),
            "web_visits": raw["web"].astype(np.int64),
            "email_opens": raw["email_opens"].astype(np.int64),
            "content_downloads": raw["downloads"].astype(np.int64),
            "pricing_page_views": raw["pricing"].astype(np.int64),
            "demo_requested": pd.Series(np.where(raw["demo"], "yes", "no")).astype("str"),
            "days_since_last_activity": raw["days"].astype(float),
            "product_interest": _labels(PRODUCTS, raw["prod"]),
            "email": email,
            "full_name": full_name,
            "sales_status": _labels(("Closed Won", "Closed Lost", "Disqualified", "Working"), raw["status"]),
            "accepted": raw["accepted"].astype(np.int64),
            "won": raw["won"].astype(np.int64),
            "revenue": raw["revenue"].astype(float),
        }
    )
    truth = pd.DataFrame(
        {
            "lead_id": lead_id,
            "p_accept_true": raw["p_a"],
            "p_won_true": raw["p_w"],
            "expected_revenue_true": raw["p_w"] * raw["exp_rev_won"],
        }
    )
    return leads, truth


def generate_funnel(
    n: int,
    seed: int = 0,
    *,
    start: str = "2025-01-01",
    end: str = "2026-06-30",
    shift: bool = False,
    progress: Callable[[int], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate ``n`` leads without response events; returns ``(leads, truth)`` aligned row by row.

    Why chunked: the CLI draws a progress bar. Chunks have a fixed size and each gets
    its own RNG stream derived from ``seed``, so ``progress`` never changes the output.
    ``shift=True`` gives a drifted population (more content syndication / paid social,
    larger companies) with the same seniority/country/industry distributions.
    """
    raw, offsets_s, t0 = _simulate(n, seed, start, end, shift, progress, touches=False)
    return _frames(n, raw, offsets_s, t0)


def _accounts(leads: pd.DataFrame, seed: int) -> pd.Series:
    """Account ids: leads of one industry and country with neighbouring company sizes, 1-5 to an account."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(3,)))
    order = leads.sort_values(["industry", "country", "company_size"], kind="stable").index.to_numpy()
    sizes = rng.integers(1, 6, size=len(order) + 1)
    account_of = np.repeat(np.arange(len(sizes)), sizes)[: len(order)]
    out = np.empty(len(order), dtype=np.int64)
    out[order] = account_of
    width = max(5, len(str(len(order))))
    return "A" + pd.Series(out, index=leads.index).astype(str).str.zfill(width)


def generate_journeys(
    n: int,
    seed: int = 0,
    *,
    start: str = "2025-01-01",
    end: str = "2026-06-30",
    shift: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Journeys:
    """Simulate ``n`` leads with accounts and response events whose campaign influence is known.

    A lead's own campaign is its first response, at creation; more touches follow from the touch mix (the
    mid-funnel campaigns of `MID_FUNNEL` only ever touch). Each touch before the decision (`DECISION_DAYS`
    after creation) adds its campaign's `TOUCH_INFLUENCE` to the outcome logits; touches after it are more
    frequent on accepted and won leads and change nothing. `campaign_truth` holds, per campaign, the
    expected wins its touches added (expected wins with them minus without them)."""
    raw, offsets_s, t0 = _simulate(n, seed, start, end, shift, progress, touches=True)
    leads, truth = _frames(n, raw, offsets_s, t0)
    leads.insert(4, "account", _accounts(leads, seed))
    names = np.array(TOUCH_CAMPAIGNS, dtype=object)[raw["t_camp"]]
    channels = np.array([_touch_channel(c) for c in TOUCH_CAMPAIGNS], dtype=object)[raw["t_camp"]]
    created = leads["created_at"].to_numpy()[raw["t_row"]]
    responses = pd.DataFrame(
        {
            "lead_id": leads["lead_id"].to_numpy()[raw["t_row"]],
            "responded_at": pd.to_datetime(created) + pd.to_timedelta(np.round(raw["t_day"] * 86400), unit="s"),
            "campaign": names,
            "response_type": [RESPONSE_TYPES[c] for c in channels],
            "channel": channels,
        }
    )
    responses = responses.sort_values(["responded_at", "lead_id"], kind="stable").reset_index(drop=True)
    width = max(7, len(str(len(responses))))
    responses.insert(0, "event_id", "E" + pd.Series(np.arange(1, len(responses) + 1)).astype(str).str.zfill(width))
    incremental = raw["incremental_wins"]
    campaign_truth = pd.DataFrame(
        {
            "campaign": list(TOUCH_CAMPAIGNS),
            "influence": [TOUCH_INFLUENCE[c] for c in TOUCH_CAMPAIGNS],
            "sources_leads": [c in CAMPAIGNS for c in TOUCH_CAMPAIGNS],
            "true_incremental_wins": np.round(incremental, 2),
            "true_share": np.round(incremental / incremental.sum(), 4) if incremental.sum() > 0 else 0.0,
        }
    )
    return Journeys(leads, truth, responses, campaign_truth)


def write_demo_data(
    out_dir: Path,
    n: int = 20000,
    seed: int = 0,
    *,
    fmt: Literal["csv", "parquet"] = "csv",
    with_truth: bool = True,
    shift: bool = False,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Path]:
    """Write leads (csv|parquet), ``responses.csv``, ``leadscore.toml`` and optionally ``truth.csv`` and
    ``campaign_truth.csv`` (the true influence of every campaign, for checking attribution).

    Returns the written paths keyed ``'data'``, ``'responses'``, ``'config'`` and (if ``with_truth``)
    ``'truth'`` and ``'campaign_truth'``. The config is written so the data directory is usable as-is.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', got {fmt!r}")
    out_dir = writable_output(Path(out_dir), directory=True)
    journeys = generate_journeys(n, seed, shift=shift, progress=progress)
    leads, truth = journeys.leads, journeys.truth

    paths: dict[str, Path] = {}
    if fmt == "csv":
        paths["data"] = out_dir / "leads.csv"
        write_csv(leads, paths["data"], index=False, date_format="%Y-%m-%dT%H:%M:%S")
    else:
        paths["data"] = out_dir / "leads.parquet"
        leads.to_parquet(paths["data"], index=False)
    paths["config"] = out_dir / "leadscore.toml"
    paths["config"].write_text(JOURNEY_CONFIG_TOML, encoding="utf-8")
    paths["responses"] = out_dir / "responses.csv"
    write_csv(journeys.responses, paths["responses"], index=False, date_format="%Y-%m-%dT%H:%M:%S")
    if with_truth:
        paths["truth"] = out_dir / "truth.csv"
        write_csv(truth, paths["truth"], index=False)
        paths["campaign_truth"] = out_dir / "campaign_truth.csv"
        write_csv(journeys.campaign_truth, paths["campaign_truth"], index=False)
    return paths

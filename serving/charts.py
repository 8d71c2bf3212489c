"""PNG charts for the review page, drawn on the server with matplotlib's Agg backend (no pyplot: its global
state is not thread-safe, and the service answers requests on several threads).

Labels hold user text (campaign names, category values), which matplotlib would read as math between two
`$` signs (and fail on); every chart is drawn with math parsing off, so text is drawn as it is.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import wraps
from typing import ParamSpec

from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from leadscore.models.reasons import HEAD_WORDS

RAISES, LOWERS, NEUTRAL = "#2e7d32", "#c62828", "#607d8b"
TOP_BARS = 8
LABEL_CHARS = 48
P = ParamSpec("P")


def literal_text(draw: Callable[P, bytes]) -> Callable[P, bytes]:
    """Draw with `$` and `\\` in labels taken literally (no mathtext)."""

    @wraps(draw)
    def drawn(*args: P.args, **kwargs: P.kwargs) -> bytes:
        with rc_context({"text.parse_math": False}):
            return draw(*args, **kwargs)

    return drawn


@dataclass(frozen=True)
class Bar:
    """One column's contribution to one head: label "feature = value", size, and whether the value was
    missing or unseen in training (drawn hatched, and said so in the label)."""

    label: str
    contribution: float
    flagged: bool


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


@literal_text
def contribution_chart(per_head: Mapping[str, Sequence[Bar]]) -> bytes:
    """One horizontal bar chart per head of what pushes it most, biggest on top: to the right (green) what
    raises it, to the left (red) what lowers it. The sizes are log-odds, which mean nothing to a reader, so
    the axis carries words, not numbers."""
    heads = list(per_head)
    figure = Figure(figsize=(6.4 * max(1, len(heads)), 4.2), layout="constrained")
    axes = figure.subplots(1, max(1, len(heads)), squeeze=False)[0]
    for ax, head in zip(axes, heads, strict=False):
        bars = sorted(per_head[head], key=lambda b: abs(b.contribution), reverse=True)[:TOP_BARS][::-1]
        values = [b.contribution for b in bars]
        drawn = ax.barh(
            [b.label for b in bars], values, color=[RAISES if v > 0 else LOWERS for v in values], edgecolor="black"
        )
        for rect, bar in zip(drawn, bars, strict=True):
            if bar.flagged:
                rect.set_hatch("//")
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_title(f"What raises or lowers {HEAD_WORDS.get(head, head)}")
        ax.set_xticks([])
        ax.set_xlabel("← lowers          raises →")
        ax.tick_params(axis="y", labelsize=8)
    return _png(figure)


def _short(label: str, width: int = LABEL_CHARS) -> str:
    """A bar label cut to `width` characters (a 250-character campaign name would push its bar off the
    chart); names stay distinct as long as they differ in their first characters."""
    return label if len(label) <= width else label[: width - 1] + "…"


@literal_text
def campaign_chart(names: Sequence[str], mean_score: Sequence[float], accept_rate: Sequence[float | None]) -> bytes:
    """Mean score per campaign, and acceptance rate by sales decisions where any were taken: one bar per name
    given, so callers pass a bounded list (`marketing.folding`)."""
    rows = list(range(len(names)))  # positions, not names: two names cut alike still get two bars
    figure = Figure(figsize=(11, 0.35 * len(names) + 1.6), layout="constrained")
    left, right = figure.subplots(1, 2, sharey=True)
    left.barh(rows, list(mean_score), color=NEUTRAL)
    left.set_yticks(rows, [_short(name) for name in names])
    left.set_xlim(0, 100)
    left.set_xlabel("mean score")
    left.invert_yaxis()
    rates = [0.0 if r is None else r for r in accept_rate]
    right.barh(rows, rates, color=RAISES)
    right.set_xlim(0, 1)
    right.set_xlabel("acceptance rate (sales decisions)")
    for y, rate in enumerate(accept_rate):
        if rate is None:
            right.text(0.01, y, "no decisions yet", va="center", fontsize=8, color=NEUTRAL)
    left.tick_params(axis="y", labelsize=8)
    return _png(figure)

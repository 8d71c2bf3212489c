"""The lead page's one list of reasons: acceptance and win merged where they agree, each named where not."""

from __future__ import annotations

from leadscore.models.reasons import Reason, sentence
from leadscore.serving.wording import merged_reasons


def _reason(head: str, feature: str, value: str, size: float) -> Reason:
    return Reason(head, feature, value, "ok", size, sentence(head, feature, value, size, None))


def test_heads_that_agree_are_one_sentence_and_heads_that_differ_are_named() -> None:
    reasons = [
        _reason("accepted", "demo_requested", "yes", 0.6),
        _reason("accepted", "company_size", "127", 0.2),
        _reason("won", "demo_requested", "yes", 0.3),
        _reason("won", "company_size", "127", -0.2),
        _reason("won", "country", "DE", -0.05),
    ]
    merged = merged_reasons(reasons)
    assert [r.text for r in merged] == [
        "Demo requested: yes — strongly raises acceptance likelihood and win likelihood",
        "Company size: 127 — raises acceptance likelihood, lowers win likelihood",
        "Country: DE — slightly lowers win likelihood",
    ]
    assert [r.direction for r in merged] == ["up", "mixed", "down"]

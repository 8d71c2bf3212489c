"""The lead definition marketing and sales agreed on, held as data and applied to every scored lead.

The `[qualification]` table of `leadscore.toml` holds fit rules (who the lead is), readiness rules (what
they did), a score or grade threshold and exclusions. Applying it gives every lead a stage
(response -> marketing-qualified -> sales-ready), a route (sales, nurture, disqualify) and the rules it met
or missed, so nobody is dropped: leads that are not ready go to nurture with the reasons why, and a lead the
model rates highly but a rule holds back is flagged for review, because the rule or the model may be wrong.

Rules read lead columns by name (any column, PII columns included), so column order never matters.
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, StrictStr, field_validator, model_validator

from leadscore.features.coerce import display_number, normalize_text, to_boolean, to_number
from leadscore.features.contract import GRADES, ConfigError, Grade, Strict

Section = Literal["fit", "readiness", "exclude"]
Policy = Literal["pass", "fail"]
STAGES: tuple[str, ...] = ("response", "marketing-qualified", "sales-ready")
"""A lead's stage, lowest first."""
ROUTES: tuple[str, ...] = ("sales", "nurture", "disqualify")
"""Where a lead goes next."""
EMAIL_DOMAIN = "email_domain"
"""The one derived field: the part after "@" of the `email_column`, unless the data has its own column."""
DEFAULT_MISSING: dict[str, Policy] = {"fit": "fail", "readiness": "fail", "exclude": "pass"}
"""A value not given fails a requirement but excludes nobody, unless the rule says `missing = ...`."""
_SECTION_WORDS = {"fit": "Fit", "readiness": "Readiness", "exclude": "Excluded"}
_LISTED = 5
"""Values of an `in` / `not_in` list spelled out in sentences before "and N more"."""


def _fold(values: Sequence[str]) -> set[str]:
    """Text compares case-insensitively and ignores surrounding spaces."""
    return {v.strip().lower() for v in values}


def _number(x: float) -> str:
    return display_number(x) if float(x).is_integer() else f"{x:,}"


def _words(name: str, labels: Mapping[str, str] | None = None) -> str:
    """How a sentence names a column: its `[labels]` label when given, else the name with spaces."""
    return (labels or {}).get(name) or name.replace("_", " ")


def _listing(values: Sequence[str]) -> str:
    shown = ", ".join(values[:_LISTED])
    return shown if len(values) <= _LISTED else f"{shown} and {len(values) - _LISTED} more"


class Rule(Strict):
    """A condition on one column: numbers by `min`/`max` (inclusive), text by `in`/`not_in`/`equals`
    (case-insensitive), yes/no by `equals = true|false` (any spelling: yes/no, 1/0, true/false)."""

    min: float | None = Field(None, strict=True, allow_inf_nan=False)
    max: float | None = Field(None, strict=True, allow_inf_nan=False)
    in_: list[StrictStr] | None = Field(None, alias="in", min_length=1)
    not_in: list[StrictStr] | None = Field(None, min_length=1)
    equals: str | bool | None = None
    missing: Policy | None = None

    @field_validator("equals", mode="before")
    @classmethod
    def _text_or_yes_no(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str | bool):
            raise ValueError('equals takes text ("yes") or true/false; compare numbers with min and max')
        return value

    @property
    def kind(self) -> Literal["number", "text", "yes/no"]:
        """Which reading of the column the rule needs."""
        if self.min is not None or self.max is not None:
            return "number"
        return "yes/no" if isinstance(self.equals, bool) else "text"

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        numeric = self.min is not None or self.max is not None
        text = self.in_ is not None or self.not_in is not None or isinstance(self.equals, str)
        yes_no = isinstance(self.equals, bool)
        if numeric + text + yes_no == 0:
            raise ValueError("the rule has no condition: give min, max, in, not_in or equals")
        if numeric + text + yes_no > 1:
            raise ValueError(
                "min/max compare numbers, in/not_in/equals compare text, equals = true/false compares yes/no: "
                "use one kind per rule"
            )
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {_number(self.min)} is greater than max {_number(self.max)}: no lead can pass")
        both = sorted(_fold(self.in_ or ()) & _fold(self.not_in or ()))
        if both:
            raise ValueError(f"{both} listed in both 'in' and 'not_in'")
        if isinstance(self.equals, str):
            equals = self.equals.strip().lower()
            if (self.in_ and equals not in _fold(self.in_)) or equals in _fold(self.not_in or ()):
                raise ValueError(f"equals {self.equals!r} contradicts the 'in' / 'not_in' lists: no lead can pass")
        return self

    def requirement(self) -> str:
        """The condition in words, e.g. "at least 20", "in US, GB", "not intern", "= yes"."""
        if self.min is not None and self.max is not None:
            return f"between {_number(self.min)} and {_number(self.max)}"
        if self.min is not None:
            return f"at least {_number(self.min)}"
        if self.max is not None:
            return f"at most {_number(self.max)}"
        if self.kind == "yes/no":
            return "= yes" if self.equals else "= no"
        parts = []
        if isinstance(self.equals, str):
            parts.append(f"= {self.equals}")
        elif self.in_:
            parts.append(f"in {_listing(self.in_)}")
        if self.not_in:
            parts.append(f"not {self.not_in[0]}" if len(self.not_in) == 1 else f"not in {_listing(self.not_in)}")
        return " and ".join(parts)


@dataclass(frozen=True)
class RuleSpec:
    """One rule with its place in the file: `id` is how results name it, e.g. "fit.company_size"."""

    section: Section
    field: str
    rule: Rule

    @property
    def id(self) -> str:
        """Section and field, as written in leadscore.toml."""
        return f"{self.section}.{self.field}"

    @property
    def missing(self) -> Policy:
        """What a lead without a value gets on this rule."""
        return self.rule.missing or DEFAULT_MISSING[self.section]

    @property
    def text(self) -> str:
        """E.g. "company size at least 20"."""
        return f"{_words(self.field)} {self.rule.requirement()}"


class QualificationConfig(Strict):
    """The `[qualification]` table: the agreed lead definition.

    Stage: a lead that passes every fit rule and hits no exclusion is marketing-qualified; one that is also
    ready (all readiness rules, or any one with `readiness_mode = "any"`) and meets the score threshold is
    sales-ready. Route: any exclusion -> disqualify; sales-ready -> sales; everything else -> nurture.
    """

    min_score: float | None = Field(None, ge=0, le=100, strict=True)
    min_grade: Grade | None = None
    flag_score: float = Field(80, ge=0, le=100, strict=True)
    readiness_mode: Literal["all", "any"] = "all"
    email_column: str = Field("email", min_length=1)
    fit: dict[str, Rule] = Field(default_factory=dict)
    readiness: dict[str, Rule] = Field(default_factory=dict)
    exclude: dict[str, Rule] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _thresholds(self) -> QualificationConfig:
        if self.min_score is not None and self.min_grade is not None:
            raise ValueError("give min_score or min_grade, not both")
        if self.min_score is not None and self.flag_score < self.min_score:
            raise ValueError(
                f"flag_score {_number(self.flag_score)} is below min_score {_number(self.min_score)}: "
                "a lead that clears min_score is flagged only when a rule holds it back, so flag_score must be "
                "at least min_score"
            )
        return self

    @property
    def rules(self) -> list[RuleSpec]:
        """Every column rule in file order per section: fit, readiness, exclude."""
        sections: tuple[tuple[Section, dict[str, Rule]], ...] = (
            ("fit", self.fit),
            ("readiness", self.readiness),
            ("exclude", self.exclude),
        )
        return [RuleSpec(section, name, rule) for section, rules in sections for name, rule in rules.items()]

    @property
    def threshold_id(self) -> str | None:
        """`min_score` or `min_grade` when one is set: the model's part of sales-ready."""
        return "min_score" if self.min_score is not None else "min_grade" if self.min_grade is not None else None

    def descriptions(self, named: Callable[[str], str] = _words) -> dict[str, str]:
        """Rule id -> the rule in words, for a legend next to `rules_met` / `rules_missed`; `named` words a
        column (pass the `[labels]` lookup so the legend uses sales' names)."""
        out = {
            spec.id: f"{_SECTION_WORDS[spec.section]}: {named(spec.field)} {spec.rule.requirement()}"
            for spec in self.rules
        }
        if self.min_score is not None:
            out["min_score"] = f"Score at least {_number(self.min_score)}"
        if self.min_grade is not None:
            out["min_grade"] = f"Grade {self.min_grade} or better"
        return out


@dataclass(frozen=True)
class RuleResults:
    """Per lead and rule: did the lead clear the rule (True is good, for exclusions too) and was its value
    missing. Index follows the leads; one column per rule id in `QualificationConfig.rules` order, then the
    threshold when scores were given. The stage masks are computed once, on first use."""

    rules: QualificationConfig
    passed: pd.DataFrame
    missing: pd.DataFrame

    def _section(self, section: Section) -> np.ndarray:
        columns = [s.id for s in self.rules.rules if s.section == section]
        return self.passed[columns].to_numpy(bool).reshape(len(self.passed), len(columns))

    def _mask(self, values: np.ndarray) -> pd.Series:
        return pd.Series(values, index=self.passed.index, dtype=bool)

    @cached_property
    def excluded(self) -> pd.Series:
        """Hit by at least one exclusion."""
        return self._mask(~self._section("exclude").all(axis=1))

    @cached_property
    def marketing_qualified(self) -> pd.Series:
        """Passes every fit rule and hits no exclusion."""
        return self._mask(self._section("fit").all(axis=1) & ~self.excluded.to_numpy())

    @cached_property
    def ready(self) -> pd.Series:
        """Meets the readiness rules (all of them, or one with `readiness_mode = "any"`); true when there are none."""
        readiness = self._section("readiness")
        if readiness.shape[1] == 0 or self.rules.readiness_mode == "all":
            return self._mask(readiness.all(axis=1))
        return self._mask(readiness.any(axis=1))

    @cached_property
    def sales_ready(self) -> pd.Series:
        """Marketing-qualified, ready and above the score threshold (needs scores if a threshold is set)."""
        out = self.marketing_qualified & self.ready
        threshold = self.rules.threshold_id
        if threshold is not None:
            if threshold not in self.passed.columns:
                raise ValueError(f"{threshold} needs model scores: pass scores to evaluate_rules")
            out &= self.passed[threshold]
        return out


def _column(leads: pd.DataFrame, spec: RuleSpec, email_column: str) -> pd.Series:
    """The rule's column, or the derived e-mail domain; all missing when the data has neither."""
    if spec.field in leads.columns:
        return leads[spec.field]
    if spec.field == EMAIL_DOMAIN and email_column in leads.columns:
        email = leads[email_column].astype("string").str.strip()
        domain = email.str.replace(r"^.*@", "", regex=True)
        return domain.where(email.str.contains("@", regex=False).fillna(False) & (domain != "").fillna(False))
    return pd.Series(pd.NA, index=leads.index, dtype="object")


def _source(spec: RuleSpec, email_column: str) -> str:
    return email_column if spec.field == EMAIL_DOMAIN else spec.field


def evaluate_rules(
    leads: pd.DataFrame,
    rules: QualificationConfig,
    *,
    missing_values: Sequence[str],
    scores: pd.DataFrame | None = None,
    allow_missing: bool = False,
) -> RuleResults:
    """Every rule on every lead, one vectorised pass per rule.

    `missing_values` are the placeholder tokens of `[data]` ("N/A", "-", ...), read as not given.
    A column the rules need but the data lacks is a `ConfigError` naming it, unless `allow_missing`
    (then every lead is "not given" there and the rule's `missing` policy decides). `scores` (the model's
    frame, index-aligned with `leads`) adds the `min_score` / `min_grade` column.
    """
    specs = rules.rules
    absent = {
        spec.id: _source(spec, rules.email_column)
        for spec in specs
        if spec.field not in leads.columns and _source(spec, rules.email_column) not in leads.columns
    }
    if absent and not allow_missing:
        raise ConfigError(
            f"the qualification rules read column(s) the data does not have: {sorted(set(absent.values()))} "
            f"(rules {list(absent)}); fix the rule or add the column"
        )
    tokens = tuple(missing_values)
    passed: dict[str, np.ndarray] = {}
    missing: dict[str, np.ndarray] = {}
    for spec in specs:
        rule = spec.rule
        values = normalize_text(_column(leads, spec, rules.email_column), tokens)
        if rule.kind == "number":
            number = to_number(values)[0]
            met = pd.Series(True, index=leads.index)
            if rule.min is not None:
                met &= number >= rule.min
            if rule.max is not None:
                met &= number <= rule.max
        elif rule.kind == "yes/no":
            met = to_boolean(values)[0] == float(bool(rule.equals))
        else:
            text = values.astype("string").str.lower()  # normalize_text has stripped it
            met = pd.Series(True, index=leads.index)
            if rule.in_:
                met &= text.isin(_fold(rule.in_))
            if rule.not_in:
                met &= ~text.isin(_fold(rule.not_in))
            if isinstance(rule.equals, str):
                met &= text == rule.equals.strip().lower()
        met_array = met.fillna(False).to_numpy(bool)
        is_missing = values.isna().to_numpy(bool)
        ok = ~met_array if spec.section == "exclude" else met_array
        passed[spec.id] = np.where(is_missing, spec.missing == "pass", ok)
        missing[spec.id] = is_missing
    if scores is not None:
        if not scores.index.equals(leads.index):
            raise ValueError("scores must have the same index as leads")
        score = pd.to_numeric(scores["score"], errors="coerce")
        if rules.min_score is not None:
            passed["min_score"] = (score >= rules.min_score).to_numpy(bool)
            missing["min_score"] = score.isna().to_numpy(bool)
        if rules.min_grade is not None:
            good = GRADES[: GRADES.index(rules.min_grade) + 1]
            passed["min_grade"] = scores["grade"].isin(good).to_numpy(bool)
            missing["min_grade"] = scores["grade"].isna().to_numpy(bool)
    columns = list(passed)
    return RuleResults(
        rules,
        pd.DataFrame(passed, index=leads.index, columns=columns).astype(bool),
        pd.DataFrame(missing, index=leads.index, columns=columns).astype(bool),
    )


def _holding_back(results: RuleResults, nurture: np.ndarray) -> np.ndarray:
    """Per nurture lead, the rules that keep it from sales: missed fit rules, missed readiness rules when
    not ready, and the threshold. Exclusions never appear (excluded leads are disqualified)."""
    failed = ~results.passed.to_numpy(bool)
    section = {s.id: s.section for s in results.rules.rules}
    not_ready = ~results.ready.to_numpy(bool)
    blocking = np.zeros_like(failed)
    for j, rule_id in enumerate(results.passed.columns):
        kind = section.get(rule_id, "threshold")
        if kind in ("fit", "threshold"):
            blocking[:, j] = failed[:, j]
        elif kind == "readiness":
            blocking[:, j] = failed[:, j] & not_ready
    return blocking & nurture[:, None]


def _reason_sentences(
    results: RuleResults, blocking: np.ndarray, missing: np.ndarray, labels: Mapping[str, str] | None = None
) -> list[str]:
    """Plain sentences for one pattern of blocking rules: fit, then readiness (one sentence in "any" mode),
    then the score threshold; columns are named by their `labels` (column -> label) when given."""
    rules = results.rules
    specs = {s.id: s for s in rules.rules}
    sentences: list[str] = []
    readiness_needed: list[str] = []
    threshold: list[str] = []
    for j, rule_id in enumerate(results.passed.columns):
        if not blocking[j]:
            continue
        if rule_id == rules.threshold_id:
            threshold.append(f"{rules.descriptions()[rule_id]} is needed to be sales-ready")
            continue
        spec = specs[rule_id]
        text = f"{_words(spec.field, labels)} {spec.rule.requirement()}"
        if spec.section == "readiness" and rules.readiness_mode == "any":
            readiness_needed.append(text)
            continue
        section = _SECTION_WORDS[spec.section]
        if missing[j]:
            sentences.append(f"{section}: {_words(spec.field, labels)} not given (needs {spec.rule.requirement()})")
        else:
            sentences.append(f"{section}: needs {text}")
    if readiness_needed:
        sentences.append(f"Readiness: needs one of {'; '.join(readiness_needed)}")
    return sentences + threshold


def _pattern_codes(flags: np.ndarray) -> np.ndarray:
    """One integer per distinct row of a boolean matrix (numbered in order of first appearance)."""
    bits = 62
    keys = [
        flags[:, lo : lo + bits].astype(np.int64) @ (np.int64(1) << np.arange(min(bits, flags.shape[1] - lo)))
        for lo in range(0, flags.shape[1], bits)
    ]
    if not keys:
        return np.zeros(len(flags), dtype=np.int64)
    return pd.DataFrame(np.column_stack(keys)).groupby(list(range(len(keys))), sort=False).ngroup().to_numpy()


def apply_qualification(
    leads: pd.DataFrame,
    scores: pd.DataFrame,
    rules: QualificationConfig,
    *,
    missing_values: Sequence[str],
    allow_missing: bool = False,
    labels: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Stage, route and rule results for scored leads; index follows `leads`. `labels` (column -> what sales
    call it, `features.config.display_labels`) names columns in the nurture reasons.

    `scores` is `LeadScorer.predict(leads)` (needs `score`, and `grade` for `min_grade`). Columns:
    `stage` (response | marketing-qualified | sales-ready), `route` (sales | nurture | disqualify),
    `rules_met` / `rules_missed` (tuples of rule ids, see `QualificationConfig.descriptions`), `review_flag`
    (score >= flag_score but not routed to sales) and `nurture_reasons` (tuple of sentences; empty unless the
    route is nurture).
    """
    results = evaluate_rules(leads, rules, missing_values=missing_values, scores=scores, allow_missing=allow_missing)
    excluded = results.excluded.to_numpy(bool)
    qualified = results.marketing_qualified.to_numpy(bool)
    sales = results.sales_ready.to_numpy(bool)
    stage = np.select([sales, qualified], [STAGES[2], STAGES[1]], default=STAGES[0])
    route = np.select([excluded, sales], [ROUTES[2], ROUTES[0]], default=ROUTES[1])
    score = pd.to_numeric(scores["score"], errors="coerce").to_numpy(float)
    review = (score >= rules.flag_score) & (route != ROUTES[0])

    # Leads share few distinct rule outcomes: build each tuple once per pattern; tuples are immutable,
    # so leads with the same outcome can share one object.
    outcome = np.hstack(
        [results.passed.to_numpy(bool), results.missing.to_numpy(bool), _holding_back(results, route == ROUTES[1])]
    )
    pattern = _pattern_codes(outcome)
    rows = outcome[np.unique(pattern, return_index=True)[1]]
    ids = np.array(results.passed.columns, dtype=object)
    n = len(ids)
    met = [tuple(ids[r[:n]]) for r in rows]
    missed = [tuple(ids[~r[:n]]) for r in rows]
    reasons = [tuple(_reason_sentences(results, r[2 * n :], r[n : 2 * n], labels)) for r in rows]
    which = pattern.tolist()
    return pd.DataFrame(
        {
            "stage": stage,
            "route": route,
            "rules_met": [met[k] for k in which],
            "rules_missed": [missed[k] for k in which],
            "review_flag": review,
            "nurture_reasons": [reasons[k] for k in which],
        },
        index=leads.index,
    )

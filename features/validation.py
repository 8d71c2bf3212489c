"""Validate a training frame against the contract and report every problem at once.

Messages name the column and example row ids, never cell values: leads carry PII.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from leadscore.features.coerce import normalize_text, to_boolean, to_datetime, to_number
from leadscore.features.config import DEFAULT_MISSING_TOKENS, LeadscoreConfig, unknown_label_columns
from leadscore.features.outcomes import OutcomeWindow, is_open, outcome_window
from leadscore.features.responses import CAMPAIGN, EVENT, LEAD, TIME, TYPE, ResponsesConfig
from leadscore.features.schema import FeatureSchema, infer_schema

_EXAMPLES = 5
LATE_SHARE = 0.5
"""When more than this share of the leads' responses come after `created_at` plus the decision window, the
window (an assumption about when sales decide) hides most behaviour from training: a warning."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the data: where, what, and a few row ids to look at."""

    column: str
    message: str
    rows: tuple[str, ...] = ()
    count: int = 0

    def __str__(self) -> str:
        where = f"column '{self.column}'" if self.column else "data"
        more = f" ({self.count} rows, e.g. {', '.join(self.rows)})" if self.rows else ""
        return f"{where}: {self.message}{more}"


@dataclass
class ValidationReport:
    """All errors and warnings found; errors stop training, warnings are shown."""

    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    dropped_columns: dict[str, str] = field(default_factory=dict)
    open_leads: int = 0
    """Leads without a final outcome yet (`features.outcomes.is_open`): counted apart, never trained on."""
    empty_outcomes: dict[str, int] = field(default_factory=dict)
    """Per outcome role, the leads whose cell is empty: how open the file is, outcome by outcome."""
    maturing_leads: int = 0
    """Leads with an outcome so far but younger than the outcome window: counted as open."""
    window: OutcomeWindow | None = None

    @property
    def ok(self) -> bool:
        """No errors."""
        return not self.errors


class DataValidationError(ValueError):
    """The data breaks the contract; the message lists every problem found."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        lines = [f"  - {p}" for p in report.errors]
        super().__init__(f"data failed validation with {len(report.errors)} problem(s):\n" + "\n".join(lines))


@dataclass(frozen=True)
class PreparedData:
    """A validated frame: ids as text, `created_at` parsed, outcomes as 0/1 (NaN while open) and revenue as
    float. `frame` holds every lead; `decided` only those with a final outcome, what training learns from."""

    frame: pd.DataFrame
    report: ValidationReport
    open: pd.Series
    """True for the open leads of `frame` (same index), maturing ones included."""

    @property
    def decided(self) -> pd.DataFrame:
        """The leads with a final outcome."""
        return self.frame[~self.open.to_numpy(bool)]


_MESSAGES = {
    "not_nullable": "missing or unreadable values",
    "field_uniqueness": "duplicate ids",
    "is_binary": "values are not 0/1 (true/false/yes/no also accepted)",
    "greater_than_or_equal_to(0)": "negative revenue",
    "won_implies_accepted": "won=1 on a lead that was not accepted",
    "revenue_only_when_won": "revenue > 0 on a lead that was not won",
}


def _row_labels(ids: pd.Series, index: pd.Index) -> tuple[str, ...]:
    labels = []
    for i in index[:_EXAMPLES]:
        value = ids.loc[i]
        labels.append(str(value) if pd.notna(value) else f"row {ids.index.get_loc(i) + 1}")
    return tuple(labels)


def _coerce(frame: pd.DataFrame, config: LeadscoreConfig, report: ValidationReport) -> pd.DataFrame:
    """Coerce role columns to their types; unreadable cells become missing and are reported by pandera."""
    data = config.data
    out = frame.copy(deep=False)  # only role columns are replaced; copy-on-write keeps `frame` intact
    ids = normalize_text(frame[data.id], data.missing_values)
    out[data.id] = ids.astype("string")
    for role in ("accepted", "won"):
        col = getattr(data, role)
        if col in frame.columns:
            values, invalid = to_boolean(normalize_text(frame[col], data.missing_values))
            if invalid.any():
                rows = frame.index[invalid.to_numpy(bool)]
                report.errors.append(Problem(col, _MESSAGES["is_binary"], _row_labels(out[data.id], rows), len(rows)))
            out[col] = values
    if data.revenue in frame.columns:
        revenue, invalid = to_number(normalize_text(frame[data.revenue], data.missing_values))
        if invalid.any():
            rows = frame.index[invalid.to_numpy(bool)]
            report.errors.append(
                Problem(data.revenue, "non-numeric revenue", _row_labels(out[data.id], rows), len(rows))
            )
        out[data.revenue] = revenue.mask(invalid.to_numpy(bool), 0.0)
    if data.created_at and data.created_at in frame.columns:
        out[data.created_at] = to_datetime(normalize_text(frame[data.created_at], data.missing_values))[0]
    return out


def _pandera_schema(config: LeadscoreConfig, columns: pd.Index) -> pa.DataFrameSchema:
    data = config.data
    binary = pa.Check.isin([0.0, 1.0], name="is_binary")
    cols: dict[str, pa.Column] = {data.id: pa.Column(nullable=False, unique=True)}
    for role in ("accepted", "won"):  # empty while open; empty on a decided lead: `_decided_gaps`
        col = getattr(data, role)
        if col in columns:
            cols[col] = pa.Column(float, binary, nullable=True)
    if data.revenue in columns:
        cols[data.revenue] = pa.Column(float, pa.Check.ge(0), nullable=True)
    if data.created_at and data.created_at in columns:
        cols[data.created_at] = pa.Column(nullable=False)
    checks = []
    if data.accepted in columns and data.won in columns:
        checks.append(pa.Check(lambda d: ~((d[data.won] == 1) & (d[data.accepted] == 0)), name="won_implies_accepted"))
    if data.won in columns and data.revenue in columns:
        checks.append(pa.Check(lambda d: ~((d[data.revenue] > 0) & (d[data.won] == 0)), name="revenue_only_when_won"))
    return pa.DataFrameSchema(cols, checks=checks)


def _pandera_problems(frame: pd.DataFrame, config: LeadscoreConfig) -> list[Problem]:
    try:
        _pandera_schema(config, frame.columns).validate(frame, lazy=True)
    except SchemaErrors as err:
        cases = err.failure_cases
        problems = []
        for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
            index = pd.Index(group["index"].dropna().unique())
            column_name = "" if pd.isna(column) else str(column)
            message = _MESSAGES.get(str(check), f"failed check {check}")
            if check == "not_nullable" and column_name == config.data.created_at:
                message = "missing or unparseable timestamps"
            if check == "not_nullable" and column_name == config.data.id:
                message = "missing ids"
            problems.append(Problem(column_name, message, _row_labels(frame[config.data.id], index), len(index)))
        return problems
    return []


def floor_problems(
    rows: int, positives: dict[str, int], config: LeadscoreConfig, open_count: int = 0
) -> list[Problem]:
    """Too little to learn from: say how much is needed, not just that it failed. Takes counts of decided leads
    (`positives`: outcome role -> rows with a positive value), so a distributed frame can pass totals over its
    partitions; `open_count` open leads are named apart, since training cannot learn from them."""
    floors = config.training
    problems = []
    if rows < floors.min_rows:
        what = f"only {rows} rows" if not open_count else f"only {rows} decided leads ({open_count} still open)"
        problems.append(Problem("", f"{what}; at least {floors.min_rows} leads are needed to train"))
    for role, col in config.data.outcome_columns.items():
        if role == "revenue" and len(config.data.outcome_columns) > 1:
            continue  # few deals: no revenue head, the historical mean deal instead (a warning, `revenue_floor`)
        if positives[role] < floors.min_positives:
            problems.append(
                Problem(
                    col,
                    f"only {positives[role]} positive '{role}' outcomes; at least {floors.min_positives} are needed "
                    "(lower [training].min_positives at your own risk, or drop this outcome from [data])",
                )
            )
    return problems


def revenue_floor(positives: dict[str, int], config: LeadscoreConfig) -> list[Problem]:
    """Too few deals declare revenue to learn deal size: a warning, since the probability heads still train."""
    data = config.data
    deals = positives.get("revenue", 0)
    if data.revenue and len(data.outcome_columns) > 1 and deals < config.training.min_positives:
        return [
            Problem(
                data.revenue,
                f"only {deals} leads declare revenue (at least {config.training.min_positives} are needed to learn "
                "deal size); expected revenue will be p_won x the capped historical mean deal of a win",
            )
        ]
    return []


def _positives(frame: pd.DataFrame, config: LeadscoreConfig) -> dict[str, int]:
    return {
        role: int((pd.to_numeric(frame[col], errors="coerce") > 0).sum())
        for role, col in config.data.outcome_columns.items()
    }


def add_schema_problems(report: ValidationReport, schema: FeatureSchema) -> None:
    """Dropped columns become warnings (saying why); no usable feature at all is an error."""
    report.dropped_columns.update(schema.dropped)
    for col, why in schema.dropped.items():
        report.warnings.append(Problem(col, f"{why}; dropped from the features"))
    if not schema.features:
        report.errors.append(Problem("", "no usable feature columns remain after exclusions"))


def check_rows(frame: pd.DataFrame, config: LeadscoreConfig) -> tuple[pd.DataFrame, ValidationReport]:
    """The row-level part of validation: role columns present, coerced, and checked row by row.

    Valid on any slice of the rows, so a distributed frame runs it per partition; the floors, id
    uniqueness across slices and the usable-feature check need all rows and stay with the caller."""
    data = config.data
    report = ValidationReport()
    roles = {
        "id": data.id,
        "created_at": data.created_at,
        "campaign": data.campaign,
        "account": data.account,
        "decided_at": data.decided_at,
        **data.outcome_columns,
    }
    absent = {role: col for role, col in roles.items() if col and col not in frame.columns}
    for role, col in absent.items():
        report.errors.append(Problem(col, f"configured as '{role}' but not found in the data"))
    for col in data.exclude:
        if col not in frame.columns:
            report.warnings.append(Problem(col, "listed in exclude but not found in the data"))
    for col in unknown_label_columns(config.labels, frame.columns):
        report.warnings.append(Problem(col, "has an entry in [labels] but is not in the data"))
    if "id" in absent:
        raise DataValidationError(report)
    coerced = _coerce(frame, config, report)
    _coerce_decided_at(frame, coerced, config, report)
    pending = open_leads(coerced, config)
    report.open_leads = int(pending.sum())
    report.empty_outcomes = {
        role: int(coerced[col].isna().sum()) for role, col in data.outcome_columns.items() if col in coerced
    }
    _settle_losses(coerced, pending, config)
    report.errors.extend(_pandera_problems(coerced, config))
    report.errors.extend(_decided_gaps(coerced, pending, config))
    return coerced, report


def _coerce_decided_at(
    frame: pd.DataFrame, coerced: pd.DataFrame, config: LeadscoreConfig, report: ValidationReport
) -> None:
    """Parse `[data].decided_at` in place: empty is fine (not decided, or not recorded), unreadable is an error."""
    column = config.data.decided_at
    if not column or column not in frame.columns:
        return
    stamps, invalid = to_datetime(normalize_text(frame[column], config.data.missing_values))
    if invalid.any():
        rows = frame.index[invalid.to_numpy(bool)]
        labels = _row_labels(coerced[config.data.id], rows)
        report.errors.append(Problem(column, "unparseable timestamps", labels, len(rows)))
    coerced[column] = stamps


def maturing_leads(coerced: pd.DataFrame, config: LeadscoreConfig) -> tuple[pd.Series, OutcomeWindow]:
    """Leads of a coerced frame younger than the outcome window (`features.outcomes.outcome_window`), and the
    window: configured, else estimated from `[data].decided_at`. Needs all rows (the newest time, the wins)."""
    data = config.data
    if not data.created_at or data.created_at not in coerced:
        return pd.Series(False, index=coerced.index), OutcomeWindow(None)
    created = coerced[data.created_at]
    won = _outcomes(coerced, config).get("won")
    decided = coerced[data.decided_at] if data.decided_at and data.decided_at in coerced else None
    window = outcome_window(created, won, decided, config.training.outcome_window_days)
    return window.maturing(created), window


def _outcomes(coerced: pd.DataFrame, config: LeadscoreConfig) -> pd.DataFrame:
    """The coerced outcome columns by role, the shape `features.outcomes.is_open` reads."""
    columns = {role: col for role, col in config.data.outcome_columns.items() if col in coerced}
    return pd.DataFrame({role: coerced[col] for role, col in columns.items()}, index=coerced.index)


def open_leads(coerced: pd.DataFrame, config: LeadscoreConfig) -> pd.Series:
    """Leads of a coerced frame (`check_rows`) without a final outcome yet."""
    return is_open(_outcomes(coerced, config))


def _settle_losses(coerced: pd.DataFrame, pending: pd.Series, config: LeadscoreConfig) -> None:
    """A decided lead that was not won is a loss: its empty `won` and `revenue` cells are 0 (in place)."""
    data, decided = config.data, ~pending.to_numpy(bool)
    rejected = (coerced[data.accepted] == 0).to_numpy(bool) if data.accepted in coerced else False
    lost = decided & rejected
    if data.won in coerced:
        coerced.loc[lost & coerced[data.won].isna().to_numpy(bool), data.won] = 0.0
        lost |= decided & (coerced[data.won] == 0).to_numpy(bool)
    if data.revenue in coerced:
        coerced.loc[lost & coerced[data.revenue].isna().to_numpy(bool), data.revenue] = 0.0


def _decided_gaps(coerced: pd.DataFrame, pending: pd.Series, config: LeadscoreConfig) -> list[Problem]:
    """An outcome cell left empty on a lead whose final outcome is known (e.g. won=1 without accepted)."""
    problems = []
    for col in (c for c in config.data.outcome_columns.values() if c in coerced):
        gaps = coerced.index[(coerced[col].isna() & ~pending).to_numpy(bool)]
        if len(gaps):
            labels = _row_labels(coerced[config.data.id], gaps)
            problems.append(Problem(col, "missing values on a lead whose outcome is decided", labels, len(gaps)))
    return problems


def prepare_training_frame(frame: pd.DataFrame, config: LeadscoreConfig) -> PreparedData:
    """Check the contract, coerce role columns, and raise `DataValidationError` listing every problem."""
    data = config.data
    coerced, report = check_rows(frame, config)
    pending = open_leads(coerced, config)
    if report.ok:
        maturing, report.window = maturing_leads(coerced, config)
        report.maturing_leads = int((maturing & ~pending).sum())
        pending = pending | maturing
        decided = coerced[~pending.to_numpy(bool)]
        positives = _positives(decided, config)
        undecided = report.open_leads + report.maturing_leads
        report.errors.extend(floor_problems(len(decided), positives, config, undecided))
        report.warnings.extend(revenue_floor(positives, config))
    schema = infer_schema(frame, data, config.training.rare_category_share)
    add_schema_problems(report, schema)
    if not report.ok:
        raise DataValidationError(report)
    return PreparedData(frame=coerced.drop(columns=list(schema.dropped)), report=report, open=pending)


def _response_labels(frame: pd.DataFrame) -> pd.Series:
    """How an event is named in errors: its event id, else its row number (never a value)."""
    if EVENT in frame:
        return frame[EVENT].fillna("(no event id)").astype(str)
    return pd.Series([f"row {i + 1}" for i in range(len(frame))], index=frame.index)


def _response_problem(column: str, message: str, labels: pd.Series, mask: np.ndarray) -> Problem:
    return Problem(column, f"in the responses file: {message}", tuple(labels[mask].head(_EXAMPLES)), int(mask.sum()))


def validate_responses(
    frame: pd.DataFrame, config: ResponsesConfig, missing_values: tuple[str, ...] = DEFAULT_MISSING_TOKENS
) -> pd.DataFrame:
    """Check and normalise a responses file: columns present, lead ids, campaigns and types given, timestamps
    readable, event ids unique. Returns the canonical frame (`features.responses` column names, UTC times);
    raises `DataValidationError` listing every problem, naming columns and event ids, never values."""
    report = ValidationReport()
    columns = config.columns
    for column in columns.values():
        if column not in frame.columns:
            report.errors.append(Problem(column, "configured in [responses] but not found in the responses file"))
    if not report.ok:
        raise DataValidationError(report)
    out = pd.DataFrame(index=frame.index)
    for canonical, column in columns.items():
        if canonical != TIME:
            out[canonical] = normalize_text(frame[column].astype("string"), missing_values)
    labels = _response_labels(out)
    for canonical in (LEAD, CAMPAIGN, TYPE, EVENT):
        if canonical in out and (missing := out[canonical].isna().to_numpy(bool)).any():
            report.errors.append(_response_problem(columns[canonical], "missing values", labels, missing))
    stamps, _ = to_datetime(normalize_text(frame[config.timestamp], missing_values))
    if (bad := stamps.isna().to_numpy(bool)).any():
        report.errors.append(_response_problem(config.timestamp, "missing or unparseable timestamps", labels, bad))
    out[TIME] = stamps
    if EVENT in out:
        dupes = (out[EVENT].duplicated(keep=False) & out[EVENT].notna()).to_numpy(bool)
        if dupes.any():
            report.errors.append(_response_problem(columns[EVENT], "duplicate event ids", labels, dupes))
    if not report.ok:
        raise DataValidationError(report)
    out[LEAD] = out[LEAD].astype("string")
    return out.reset_index(drop=True)


def response_warnings(responses: pd.DataFrame, leads: pd.DataFrame, config: LeadscoreConfig) -> list[Problem]:
    """What `validate` and `train` warn about a validated responses file against the validated leads."""
    if config.responses is None:
        return []
    return [
        *orphan_responses(responses, leads[config.data.id], config.responses),
        *late_responses(responses, leads, config),
    ]


def late_responses(responses: pd.DataFrame, leads: pd.DataFrame, config: LeadscoreConfig) -> list[Problem]:
    """`decision_window_days` is an assumption (when sales decide, in days after `created_at`), not measured:
    the data have no decision time. Training rows see only the responses before `created_at` plus the window,
    so when most of the leads' responses come at or after it, say so with the measured share."""
    window, created_at = config.responses, config.data.created_at
    if window is None or not created_at:
        return []
    ids = leads[config.data.id].astype(str)
    created = pd.Series(to_datetime(leads[created_at])[0].to_numpy(), index=ids)
    as_of = responses[LEAD].map(created[~created.index.duplicated()]) + pd.Timedelta(days=window.decision_window_days)
    known = as_of.notna().to_numpy(bool)
    late = (responses[TIME] >= as_of).to_numpy(bool) & known
    share = late.sum() / max(known.sum(), 1)
    if share <= LATE_SHARE:
        return []
    source = "set in the config" if "decision_window_days" in window.model_fields_set else "the default"
    message = (
        f"{share:.0%} of the leads' responses come at or after created_at + decision_window_days "
        f"({window.decision_window_days:g} days, {source}), so training never sees them; the window is an "
        "assumption about when sales decide: set [responses].decision_window_days to your sales cycle"
    )
    return [_response_problem(window.timestamp, message, _response_labels(responses), late)]


def orphan_responses(responses: pd.DataFrame, lead_ids: pd.Series, config: ResponsesConfig) -> list[Problem]:
    """Responses of leads the lead file does not have: a warning, since they shape no lead's features."""
    orphan = ~responses[LEAD].isin(set(lead_ids.astype(str))).to_numpy(bool)
    if not orphan.any():
        return []
    return [
        _response_problem(
            config.lead_id, "responses of leads not in the lead file; ignored", _response_labels(responses), orphan
        )
    ]

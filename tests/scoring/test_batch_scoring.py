"""Streaming batch scoring: every row once, chunking invisible in the output, nothing half-written on failure."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadscore.datasets.files import DataFileError
from leadscore.features.config import LeadscoreConfig
from leadscore.models.scorer import LeadScorer
from leadscore.scoring.batch import count_rows, iter_chunks, score_file
from leadscore.training.split import split_leads


@pytest.fixture(scope="module")
def scorer(funnel: tuple[pd.DataFrame, pd.DataFrame], demo_config: LeadscoreConfig) -> LeadScorer:
    config = demo_config.model_copy(
        update={"training": demo_config.training.model_copy(update={"num_boost_round": 40})}
    )
    split = split_leads(funnel[0], config)
    return LeadScorer(config.data, config.training).fit(split.train, split.valid)


@pytest.fixture
def csv_leads(funnel: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """300 leads written as a CRM export would be (text cells)."""
    leads = funnel[0].iloc[:300]
    path = tmp_path / "leads.csv"
    leads.to_csv(path, index=False)
    return path, leads


def test_output_has_every_input_row_once_in_order(scorer: LeadScorer, csv_leads: tuple[Path, pd.DataFrame]) -> None:
    path, leads = csv_leads
    out = path.with_name("scores.csv")
    summary = score_file(scorer, path, out, reasons=0, chunk_rows=64)
    scored = pd.read_csv(out, dtype={"lead_id": str})
    assert summary.rows == len(scored) == len(leads)
    assert scored["lead_id"].tolist() == leads["lead_id"].tolist()
    assert sum(summary.grades.values()) == len(leads)
    assert "reasons" not in scored.columns


def test_chunk_boundaries_do_not_change_results(scorer: LeadScorer, csv_leads: tuple[Path, pd.DataFrame]) -> None:
    path, _ = csv_leads
    small, whole = path.with_name("small.csv"), path.with_name("whole.csv")
    score_file(scorer, path, small, reasons=1, chunk_rows=7)
    score_file(scorer, path, whole, reasons=1, chunk_rows=100_000)
    assert small.read_bytes() == whole.read_bytes()
    assert pd.read_csv(small)["reasons"].notna().all()


def test_parquet_file_and_directory_stream_to_the_same_scores(
    scorer: LeadScorer, csv_leads: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    path, leads = csv_leads
    single, parts = tmp_path / "leads.parquet", tmp_path / "parts"
    leads.to_parquet(single, index=False)
    parts.mkdir()
    for i, start in enumerate(range(0, len(leads), 100)):
        leads.iloc[start : start + 100].to_parquet(parts / f"part-{i}.parquet", index=False)
    assert count_rows(single) == count_rows(parts) == len(leads)
    assert [len(c) for c in iter_chunks(parts, rows=64)] == [64, 36] * 3
    results = []
    for source in (path, single, parts):
        out = tmp_path / f"{source.stem}-scores.csv"
        score_file(scorer, source, out, reasons=0, chunk_rows=64)
        results.append(pd.read_csv(out, dtype={"lead_id": str}))
    for other in results[1:]:
        assert other["lead_id"].tolist() == results[0]["lead_id"].tolist()
        assert other["grade"].tolist() == results[0]["grade"].tolist()
        np.testing.assert_allclose(other["p_won"], results[0]["p_won"], rtol=1e-5)


def test_failure_mid_file_leaves_no_partial_and_keeps_old_output(
    scorer: LeadScorer, csv_leads: tuple[Path, pd.DataFrame]
) -> None:
    path, _ = csv_leads
    out = path.with_name("scores.csv")
    out.write_text("previous run\n")
    done: list[int] = []

    def stop_after_first_chunk(rows: int) -> None:
        done.append(rows)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        score_file(scorer, path, out, reasons=0, progress=stop_after_first_chunk, chunk_rows=50)
    assert done == [50]
    assert out.read_text() == "previous run\n"
    assert list(path.parent.glob("*.partial")) == []


def test_missing_id_column_is_a_clear_error(scorer: LeadScorer, csv_leads: tuple[Path, pd.DataFrame]) -> None:
    path, leads = csv_leads
    leads.drop(columns="lead_id").to_csv(path, index=False)
    out = path.with_name("scores.csv")
    with pytest.raises(DataFileError, match="no id column 'lead_id'"):
        score_file(scorer, path, out)
    assert not out.exists() and list(path.parent.glob("*.partial")) == []


@pytest.mark.parametrize("ending", ["\n", ""])
def test_csv_row_count_for_progress(tmp_path: Path, ending: str) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("lead_id,x\nL1,1\nL2,2\nL3,3" + ending)
    assert count_rows(path) == 3

"""Dask training and scoring on a two-worker LocalCluster: same scores as one machine, comparable models."""

from collections.abc import Iterator
from functools import reduce
from pathlib import Path

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from distributed import LocalCluster

from leadscore.datasets import cluster as dask_cluster
from leadscore.datasets.cluster import ClusterError
from leadscore.datasets.files import DataFileError
from leadscore.datasets.synthetic import Journeys
from leadscore.features.config import LeadscoreConfig
from leadscore.features.responses import PREFIX
from leadscore.features.schema import infer_schema, merge_summaries, schema_from_stats, summarize
from leadscore.features.transform import MissingColumnsError
from leadscore.features.validation import DataValidationError
from leadscore.models.artifact import load_scorer, save_scorer
from leadscore.models.scorer import LeadScorer
from leadscore.scoring.batch import score_file
from leadscore.scoring.distributed import score_distributed
from leadscore.training.distributed import ClusterFit, train_distributed
from leadscore.training.fit import FitResult, fit_and_evaluate

pytestmark = pytest.mark.slow  # a local Dask cluster per module

PARTS = 4


@pytest.fixture(scope="module")
def config(demo_config: LeadscoreConfig) -> LeadscoreConfig:
    """Fewer rounds keep the module fast; both sides use the same config."""
    return demo_config.model_copy(update={"training": demo_config.training.model_copy(update={"num_boost_round": 80})})


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as local:
        yield local


def _write_parts(leads: pd.DataFrame, directory: Path) -> Path:
    directory.mkdir(parents=True)
    for i, part in enumerate(np.array_split(np.arange(len(leads)), PARTS)):
        leads.iloc[part].to_parquet(directory / f"part-{i}.parquet", index=False)
    return directory


@pytest.fixture(scope="module")
def lead_dir(funnel: tuple[pd.DataFrame, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_parts(funnel[0], tmp_path_factory.mktemp("dask") / "leads")


@pytest.fixture(scope="module")
def local_fit(funnel: tuple[pd.DataFrame, pd.DataFrame], config: LeadscoreConfig) -> FitResult:
    return fit_and_evaluate(funnel[0], config)


@pytest.fixture(scope="module")
def cluster_fit(lead_dir: Path, config: LeadscoreConfig, cluster: LocalCluster) -> ClusterFit:
    return train_distributed(str(lead_dir), config, cluster.scheduler_address)


def test_partition_stats_merge_to_the_whole_frame_schema(leads: pd.DataFrame, demo_config: LeadscoreConfig) -> None:
    text = leads.astype(str).replace("nan", "")  # as a CSV export arrives: every cell text
    parts = [summarize(text.iloc[i : i + 700], demo_config.data) for i in range(0, len(text), 700)]
    merged = schema_from_stats(reduce(merge_summaries, parts), demo_config.data)
    assert merged == infer_schema(text, demo_config.data)
    assert merged["company_size"].kind == "numeric" and merged["demo_requested"].kind == "boolean"


def test_distributed_scores_equal_single_machine_scores(
    local_fit: FitResult,
    lead_dir: Path,
    funnel: tuple[pd.DataFrame, pd.DataFrame],
    config: LeadscoreConfig,
    cluster: LocalCluster,
) -> None:
    out = lead_dir.parent / "scores"
    rules = config.qualification
    summary = score_distributed(local_fit.scorer, str(lead_dir), str(out), cluster.scheduler_address, rules=rules)
    assert len(list(out.glob("*.parquet"))) == PARTS
    assert not list(lead_dir.parent.glob("*.partial"))
    scored = pd.read_parquet(out).set_index("lead_id")
    expected = local_fit.scorer.predict(funnel[0]).set_index(funnel[0]["lead_id"])
    assert sorted(scored.index) == sorted(expected.index)
    scored = scored.loc[expected.index]
    assert (scored["grade"] == expected["grade"]).all() and (scored["score"] == expected["score"]).all()
    for col in ("p_accept", "p_won", "expected_revenue"):
        np.testing.assert_allclose(scored[col], expected[col], rtol=1e-9)
    assert summary.grades == expected["grade"].value_counts().to_dict()
    assert summary.rows == len(expected)
    single = lead_dir.parent / "single.csv"
    score_file(local_fit.scorer, lead_dir, single, reasons=0, rules=rules)
    routed = pd.read_csv(single, dtype={"lead_id": str}, keep_default_na=False).set_index("lead_id")
    assert {"stage", "route", "rules_missed"} <= set(scored.columns)
    for col in ("stage", "route", "rules_missed"):
        assert (scored[col] == routed.loc[expected.index, col]).all()


def test_distributed_training_gives_a_comparable_ordinary_model(
    cluster_fit: ClusterFit, local_fit: FitResult, tmp_path: Path, funnel: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    fit = cluster_fit.fit
    assert sum(cluster_fit.rows.values()) == len(funnel[0])
    assert cluster_fit.rows["train"] > cluster_fit.rows["valid"] > 0 and cluster_fit.rows["holdout"] > 0
    local_kinds = [(s.name, s.kind) for s in local_fit.scorer.transformer_.schema_.features]
    assert [(s.name, s.kind) for s in fit.scorer.transformer_.schema_.features] == local_kinds
    for head in ("accepted", "won"):
        assert fit.metrics[f"{head}_roc_auc"] > fit.metrics[f"baseline_rate_{head}_roc_auc"] + 0.2
    assert isinstance(fit.scorer, LeadScorer) and set(fit.scorer.heads_) == {"accepted", "won", "revenue"}
    loaded, _ = load_scorer(save_scorer(fit.scorer, tmp_path / "model"))
    leads = funnel[0].head(50)
    pd.testing.assert_frame_equal(loaded.predict(leads), fit.scorer.predict(leads))


def test_distributed_training_gives_the_single_machine_model(
    cluster_fit: ClusterFit, local_fit: FitResult, funnel: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    """One head definition: the same folds, settings search, deal cap, early stopping, calibration and refit
    on all history, so the cluster's model matches one machine's (issue #28's goals)."""
    fit, leads = cluster_fit.fit, funnel[0]
    assert {f"{fold}_rows": n for fold, n in cluster_fit.rows.items()} == local_fit.split.sizes()
    for head in ("accepted", "won"):
        assert abs(fit.metrics[f"{head}_roc_auc"] - local_fit.metrics[f"{head}_roc_auc"]) < 0.003
    for model, local in ((fit.evaluated, local_fit.evaluated), (fit.scorer, local_fit.scorer)):
        assert {h: s.params for h, s in model.head_settings_.items()} == {
            h: s.params for h, s in local.head_settings_.items()
        }
        assert model.head_settings_["revenue"].objective == "tweedie"
        assert model.revenue_cap_ == local.revenue_cap_ < leads["revenue"].max()
    assert {h: s.train_rows for h, s in fit.scorer.head_settings_.items()} == {
        h: s.train_rows for h, s in local_fit.scorer.head_settings_.items()
    }
    assert fit.scorer.seen(leads["lead_id"]).all()  # refitted on all history, like one machine's
    total = fit.scorer.predict(leads)["expected_revenue"].sum()
    assert total == pytest.approx(local_fit.scorer.predict(leads)["expected_revenue"].sum(), rel=0.05)


def test_distributed_validation_reports_every_problem(
    funnel: tuple[pd.DataFrame, pd.DataFrame], config: LeadscoreConfig, cluster: LocalCluster, tmp_path: Path
) -> None:
    leads = funnel[0].copy()
    leads.loc[leads.index[-1], "lead_id"] = leads["lead_id"].iloc[0]  # same id in the first and last partition
    leads.loc[leads.index[-2], "lead_id"] = leads["lead_id"].iloc[-3]  # and twice within the last one
    leads["won"] = leads["won"].astype(str)
    leads.loc[leads.index[10], "won"] = "maybe"
    with pytest.raises(DataValidationError) as err:
        train_distributed(str(_write_parts(leads, tmp_path / "bad")), config, cluster.scheduler_address)
    message = str(err.value)
    assert message.count("duplicate ids") == 1 and "column 'lead_id': duplicate ids (4 rows" in message
    assert "column 'won'" in message and "maybe" not in message


def test_distributed_scoring_refuses_missing_columns(
    local_fit: FitResult, funnel: tuple[pd.DataFrame, pd.DataFrame], cluster: LocalCluster, tmp_path: Path
) -> None:
    leads = _write_parts(funnel[0].drop(columns=["industry"]), tmp_path / "partial-columns")
    with pytest.raises(MissingColumnsError, match="industry"):
        score_distributed(local_fit.scorer, str(leads), str(tmp_path / "out"), cluster.scheduler_address)
    assert not (tmp_path / "out").exists()


def test_unreachable_scheduler_is_a_clear_error(
    local_fit: FitResult, lead_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dask_cluster, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(ClusterError, match=r"cannot reach the Dask scheduler at 'tcp://127.0.0.1:1'"):
        score_distributed(local_fit.scorer, str(lead_dir), str(tmp_path / "out"), "tcp://127.0.0.1:1")
    assert not (tmp_path / "out").exists()


def test_cli_train_and_score_with_dask(lead_dir: Path, cluster: LocalCluster, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from leadscore.cli.main import app
    from leadscore.datasets.synthetic import CONFIG_TOML

    (tmp_path / "leadscore.toml").write_text(CONFIG_TOML + "\n[training]\nnum_boost_round = 80\n")
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    address = cluster.scheduler_address
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "train",
            "--dask",
            address,
            "--data",
            str(lead_dir),
            "--config",
            str(tmp_path / "leadscore.toml"),
            "--tracking-uri",
            store,
            "--model-name",
            "dask-cli",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "@champion" in result.output
    result = runner.invoke(
        app,
        [
            "score",
            "--dask",
            address,
            "--data",
            str(lead_dir),
            "--out",
            str(tmp_path / "scores"),
            "--model",
            "models:/dask-cli@champion",
            "--tracking-uri",
            store,
            "--reasons",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    scored = pd.read_parquet(tmp_path / "scores")
    assert len(scored) == len(pd.read_parquet(lead_dir)) and scored["score"].between(0, 100).all()


@pytest.fixture(scope="module")
def journey_dir(journeys: Journeys, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_parts(journeys.leads, tmp_path_factory.mktemp("dask") / "journeys")


def test_a_model_with_responses_trains_and_scores_on_dask(
    journey_dir: Path,
    journey_fit: tuple[FitResult, pd.DataFrame],
    journey_config: LeadscoreConfig,
    journeys: Journeys,
    cluster: LocalCluster,
) -> None:
    """Point-in-time behavioural features computed partition by partition against the broadcast events: the
    same columns, so the same model as one machine's, and the same scores."""
    local, responses = journey_fit
    fit = train_distributed(str(journey_dir), journey_config, cluster.scheduler_address, responses=responses).fit
    assert fit.scorer.responses is not None
    behaviour = [s.name for s in local.scorer.transformer_.schema_.features if s.name.startswith(PREFIX)]
    assert behaviour and [s.name for s in fit.scorer.transformer_.schema_.features if s.name in behaviour] == behaviour
    assert abs(fit.metrics["won_roc_auc"] - local.metrics["won_roc_auc"]) < 0.003
    as_of = pd.Timestamp("2026-01-01", tz="UTC")
    out = journey_dir.parent / "journey-scores"
    with pytest.raises(DataFileError, match="response events"):
        score_distributed(local.scorer, str(journey_dir), str(out), cluster.scheduler_address)
    score_distributed(
        local.scorer, str(journey_dir), str(out), cluster.scheduler_address, responses=responses, as_of=as_of
    )
    scored = pd.read_parquet(out).set_index("lead_id").loc[journeys.leads["lead_id"]]
    expected = local.scorer.predict(local.scorer.with_responses(journeys.leads, responses, as_of))
    np.testing.assert_allclose(scored["p_won"], expected["p_won"], rtol=1e-9)
    assert (scored["score"].to_numpy() == expected["score"].to_numpy()).all()


def test_cli_scores_a_model_with_responses_on_dask(
    journey_dir: Path,
    journey_fit: tuple[FitResult, pd.DataFrame],
    journeys: Journeys,
    cluster: LocalCluster,
    tmp_path: Path,
) -> None:
    """`score --dask` reads the events named by the config (it refused such a model before)."""
    from typer.testing import CliRunner

    from leadscore.cli.main import app
    from leadscore.datasets.synthetic import JOURNEY_CONFIG_TOML

    save_scorer(journey_fit[0].scorer, tmp_path / "model")
    journeys.responses.to_csv(tmp_path / "responses.csv", index=False)
    (tmp_path / "leadscore.toml").write_text(JOURNEY_CONFIG_TOML)
    args = [
        "score",
        "--dask",
        cluster.scheduler_address,
        "--data",
        str(journey_dir),
        "--model",
        str(tmp_path / "model"),
    ]
    out = tmp_path / "scores"
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--config", str(tmp_path / "leadscore.toml")])
    assert result.exit_code == 0, result.output
    assert len(pd.read_parquet(out)) == len(journeys.leads)


def test_head_rows_leave_out_partitions_the_filters_empty(cluster: LocalCluster) -> None:
    """A time-ordered export puts whole partitions outside the training fold or without wins; lightgbm.dask
    fails on a worker whose data are empty, so those partitions must not reach it."""
    from distributed import Client

    from leadscore.training import distributed as dist

    won, revenue = dist._TARGET.format("won"), dist._TARGET.format("revenue")
    frame = pd.DataFrame({"x": np.arange(8.0), won: [1, 0, 1, 0, 0, 0, 0, 0], revenue: [5.0, 0, 9.0, 0, 0, 0, 0, 0]})
    matrix = dd.from_pandas(frame, npartitions=4)
    with Client(cluster.scheduler_address) as client:
        rows, size = dist._head_data(client, matrix, "revenue", 8.0)
        assert size == 2 and rows.npartitions == 2
        assert rows[dist._Y].compute().tolist() == [5.0, 8.0]  # capped at the deal cap
        everyone, size = dist._head_data(client, matrix, "won", 8.0)
        assert size == 8 and everyone.npartitions == 4

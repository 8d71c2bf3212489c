"""`make docs-check`: every marked figure in README.md and docs/ is what benchmarks/results says (issue #30).

Why: figures typed by hand drift from the runs that produced them; the check must pass on the committed files
and fail as soon as a results file changes under the prose.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _script(name: str) -> ModuleType:
    """A benchmark script as a module (benchmarks/ is not a package; conftest puts it on the path)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def figures() -> ModuleType:
    return _script("figures")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of README.md, docs/*.md and benchmarks/results to change things in."""
    (tmp_path / "docs").mkdir()
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    for doc in (ROOT / "docs").glob("*.md"):
        shutil.copy(doc, tmp_path / "docs" / doc.name)
    shutil.copytree(ROOT / "benchmarks" / "results", tmp_path / "results")
    return tmp_path


def _change(results: Path, name: str, path: str, value: object) -> None:
    data = json.loads((results / f"{name}.json").read_text())
    *parents, last = path.split(".")
    target = data
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    target[int(last) if isinstance(target, list) else last] = value
    (results / f"{name}.json").write_text(json.dumps(data))


def _check(figures: ModuleType, project: Path) -> int:
    return figures.main(["--root", str(project), "--results", str(project / "results")])


def test_committed_docs_match_their_results(figures: ModuleType) -> None:
    problems = [line for doc in figures.documents() for line in figures.differences(doc, figures.Results())]
    assert problems == []


def test_the_docs_mark_the_figures_the_issue_named() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "<!-- fig serving.ratios_to_raw_booster.batch_scores .1f -->" in readme  # was "1.6×", stale
    assert "<!-- table realdata -->" in readme and "<!-- table reliability -->" in readme
    assert "1,524" not in readme and "training_remeasured" not in readme
    assert "18–22×" not in readme and "2.3 ms" not in readme  # hand-typed lleaves and profile figures, removed
    assert "in about a minute" not in (ROOT / "docs" / "scale.md").read_text()


def test_an_inline_figure_changed_under_the_prose_fails_the_check(
    figures: ModuleType, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _check(figures, project) == 0
    shown = json.loads((project / "results" / "serving.json").read_text())["ratios_to_raw_booster"]["batch_scores"]
    changed = round(shown + 1.3, 1)
    _change(project / "results", "serving", "ratios_to_raw_booster.batch_scores", changed)
    assert _check(figures, project) == 1
    err = capsys.readouterr().err
    said = f"ratios_to_raw_booster.batch_scores reads '{shown:.1f}', the results say '{changed:.1f}'"
    assert "README.md:" in err and said in err


def test_a_table_cell_and_its_goal_verdict_follow_the_results(figures: ModuleType, project: Path) -> None:
    seeds = json.loads((project / "results" / "quality.json").read_text())
    for seed in seeds:  # every seed's revenue inside the goal, seed 2's moved: the verdict must read "met"
        seed["revenue_predicted_over_actual"] = 1.0
    (project / "results" / "quality.json").write_text(json.dumps(seeds))
    assert _check(figures, project) == 1
    figures.main(["--write", "--root", str(project), "--results", str(project / "results")])
    readme = (project / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| predicted / actual total revenue"))
    assert row.count("1.00 (") == 3 and row.endswith("| ±10% — met |"), row
    assert _check(figures, project) == 0


def test_a_marker_naming_a_missing_value_fails_and_says_so(
    figures: ModuleType, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\n<!-- fig serving.no_such_key -->1<!-- /fig -->\n")
    assert _check(figures, project) == 1
    assert "no_such_key" in capsys.readouterr().err


def test_a_star_joins_every_run(figures: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "runs.json").write_text(json.dumps([{"auc": {"won": 0.8791}}, {"auc": {"won": 0.87}}]))
    text = "AUC <!-- fig runs.*.auc.won .3f -->old<!-- /fig -->."
    rendered = figures.render(text, figures.Results(tmp_path))
    assert rendered == "AUC <!-- fig runs.*.auc.won .3f -->0.879 / 0.870<!-- /fig -->."


def test_goals_compare_with_numbers_and_with_other_values() -> None:
    import bench  # as the scripts import it (conftest puts their folder on the path)

    beats = bench.Goal("won_auc", "beaten", at_least="won_auc_logreg")
    assert beats.met({"won_auc": 0.8, "won_auc_logreg": 0.7})
    assert not beats.met({"won_auc": 0.6, "won_auc_logreg": 0.7})
    within = bench.Goal("r", "±10%", at_least=0.9, at_most=1.1)
    assert [within.met({"r": r}) for r in (0.86, 1.0, 1.11)] == [False, True, False]
    assert bench.missed({"w": within}, {"r": 1.2}) == ["r ±10%"]

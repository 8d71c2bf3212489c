"""Every measured figure in README.md and docs/*.md, rendered from the results files the benchmarks write.

Markers are HTML comments, invisible once the Markdown is rendered:
- a figure: `<!-- fig serving.batch_scores.leads_per_s ,.0f -->5,977<!-- /fig -->` is the value at that path of
  benchmarks/results/serving.json (dots separate keys, numbers index lists, `*` joins every list item with
  " / "), in the Python format spec given (none: as stored); `fig =NAME` is a value computed by `CALC[NAME]`;
- a table: `<!-- table NAME -->` ... `<!-- /table -->` holds the Markdown table `TABLES[NAME]` builds
  (both in `figure_tables.py`).

`python benchmarks/figures.py` (`make docs-check`) exits 1, naming file, line and what differs, when the prose
differs from the results; `--write` rewrites the marked text. Standard library only, no network, no model
(issue #30).
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path
from typing import Any

from figure_tables import CALC, RESULTS, TABLES, Results

ROOT = Path(__file__).resolve().parents[1]
FIG = re.compile(r"<!-- fig (?P<path>\S+)(?: (?P<fmt>\S+))? -->(?P<text>.*?)<!-- /fig -->")
TABLE = re.compile(r"(?P<open><!-- table (?P<name>\S+) -->\n)(?P<text>.*?)(?P<close><!-- /table -->)", re.S)


def fmt(value: Any, spec: str | None) -> str:
    """A value as the prose prints it; lists (from `*`) joined with " / "."""
    if isinstance(value, list):
        return " / ".join(fmt(v, spec) for v in value)
    return format(value, spec) if spec else str(value)


def markdown(rows: list[list[str]]) -> str:
    return "".join("| " + " | ".join(row) + " |\n" for row in rows)


def render(text: str, results: Results) -> str:
    """`text` with every marked figure and table as the results say."""

    def figure(m: re.Match[str]) -> str:
        path = m["path"]
        value = CALC[path[1:]](results) if path.startswith("=") else results.value(path)
        spec = f" {m['fmt']}" if m["fmt"] else ""
        return f"<!-- fig {path}{spec} -->{fmt(value, m['fmt'])}<!-- /fig -->"

    def table(m: re.Match[str]) -> str:
        return m["open"] + markdown(TABLES[m["name"]](results)) + m["close"]

    return FIG.sub(figure, TABLE.sub(table, text))


def differences(path: Path, results: Results) -> list[str]:
    """Each marked figure or table of `path` that differs from the results, as "file:line: marker" lines."""
    text, name = path.read_text(), path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    try:
        rendered = render(text, results)
    except (KeyError, IndexError, FileNotFoundError, TypeError, ValueError) as err:
        return [f"{name}: a marker names a value or table the results do not have: {err!r}"]
    out = []
    for old, now in zip(FIG.finditer(text), FIG.finditer(rendered), strict=True):
        if old.group(0) != now.group(0):
            line = text.count("\n", 0, old.start()) + 1
            out.append(f"{name}:{line}: {old['path']} reads {old['text']!r}, the results say {now['text']!r}")
    for old, now in zip(TABLE.finditer(text), TABLE.finditer(rendered), strict=True):
        if old.group(0) != now.group(0):
            line = text.count("\n", 0, old.start()) + 1
            rows = difflib.unified_diff(old["text"].splitlines(), now["text"].splitlines(), lineterm="", n=0)
            changed = "\n".join(f"    {row}" for row in list(rows)[2:] if not row.startswith("@@"))
            out.append(f"{name}:{line}: table {old['name']} (- prose, + results):\n{changed}")
    return out


def documents(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def undated(results: Results) -> list[str]:
    """Results files written before runs recorded their date and load (issue #30): to re-run."""
    names = sorted(p.stem for p in results.folder.glob("*.json"))
    return [n for n in names if "run" not in (results[n][0] if isinstance(results[n], list) else results[n])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the marked figures and tables")
    parser.add_argument("--root", type=Path, default=ROOT, help="project folder (README.md, docs/)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of the results files")
    args = parser.parse_args(argv)
    results = Results(args.results)
    if args.write:
        for path in documents(args.root):
            path.write_text(render(path.read_text(), results))
        return 0
    problems = [line for path in documents(args.root) for line in differences(path, results)]
    for line in problems:
        print(line, file=sys.stderr)
    if old := undated(results):
        print(f"note: {', '.join(old)} results were written before runs recorded their date and load: re-run them")
    if problems:
        print(f"{len(problems)} figure(s) differ from benchmarks/results: `python benchmarks/figures.py --write`")
        return 1
    print(f"docs-check: every marked figure in {len(documents(args.root))} documents matches {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

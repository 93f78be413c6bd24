"""The package's layout (README, "What is where"): stages whose imports run one way, and modules small
enough to read, or saying why not."""
import ast
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "analysis"
# A stage may import from the stages of a lower rank only (data and stats are siblings: neither uses the other).
RANK = {"core": 0, "data": 1, "stats": 1, "questions": 2, "release": 3, "book": 4}
ENTRY_POINTS = 5  # analysis/*.py: the pipeline, the command line, pooling, the generator, robustness
LONG = 420  # lines; a longer module says why in its docstring ("Long because ...")


def stage_of(module: str) -> str | None:
    """'analysis.stats.survival' -> 'stats'; an entry point ('analysis.pipeline') -> None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in RANK else None


def rank(stage: str | None) -> int:
    return ENTRY_POINTS if stage is None else RANK[stage]


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            found.append((node.lineno, "relative import"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "analysis":
            names = [node.module + "." + a.name for a in node.names] if node.module == "analysis" else [node.module]
            found += [(node.lineno, name) for name in names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "analysis"]
    return found


def test_imports_run_one_way_down_the_stages():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = path.relative_to(PACKAGE).parts
        mine = here[0] if len(here) > 1 else None
        for line, target in imports_of(path):
            if target == "relative import":
                wrong.append(f"{path.relative_to(PACKAGE)}:{line}: a relative import (the layout test reads absolute ones)")
                continue
            theirs = stage_of(target) if target.count(".") >= 2 else None
            if target.count(".") == 1 and target.split(".")[1] in RANK:
                theirs = target.split(".")[1]
            if theirs != mine and rank(theirs) >= rank(mine):
                wrong.append(f"{path.relative_to(PACKAGE)}:{line}: {mine or 'entry point'} imports {target}")
    assert not wrong, "imports against the stages:\n" + "\n".join(wrong)


def test_the_check_catches_an_import_running_the_wrong_way(tmp_path):
    # the same reading as above on a made-up stats module importing a question: it must be flagged
    module = tmp_path / "m.py"
    module.write_text("from analysis.questions.outcome import logistic\nfrom analysis.core.results import row\n")
    targets = [t for _, t in imports_of(module)]
    assert [rank(stage_of(t)) >= rank("stats") for t in targets] == [True, False]


def test_no_module_is_long_without_saying_why():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = len(path.read_text().splitlines())
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        if lines > LONG and "Long because" not in doc:
            long.append(f"{path.relative_to(PACKAGE)}: {lines} lines")
    assert not long, "modules over %d lines with no reason in the docstring:\n%s" % (LONG, "\n".join(long))


def test_readme_bench_table_and_summary_are_those_of_results_benchmark_csv():
    """The README's bench table and the paragraph under it are what bench/run_bench.py writes from
    results/benchmark.csv: hand-copied, the paragraph once quoted an older run than the table above it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("run_bench", ROOT / "bench" / "run_bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    table = pd.read_csv(ROOT / "results" / "benchmark.csv")
    said = (ROOT / "README.md").read_text()
    assert bench.summary(table, pd.read_csv(ROOT / "results" / "benchmark_steps.csv")) in said
    assert bench.table_block(table) in said

"""`make bench`: wall time and peak memory of `ips-analysis run` at 10k, 100k and 1M rows made by
`ips-analysis synth` (and any sizes named in BENCH_SIZES, e.g. 10000000), beside the same fits with the
reference fitters (lifelines, statsmodels) and with R (survival, stats) where Rscript is installed, on the
same files, in one run. Writes results/benchmark.csv, results/benchmark_steps.csv and the table in
README.md. Timing lives here, never in the tests.

The first row is the committed 539-row synthetic data (with the Making IPS Work site table). Each
`ips-analysis run` is timed as a user runs it (disclosure preset nhs, figures drawn), and again with
--no-figures; at the sizes in BENCH_PARQUET_SIZES the same extract is also run from a Parquet file (typed
columns, as pyarrow infers them from the CSV), as a national extract may come. Wall times on this kind of
virtual machine vary by up to a third from run to run, so sizes up to REPEAT_UP_TO rows are timed three
times and the median is reported; larger sizes once. Peak memory is the largest resident set size of the
command's process (getrusage through wait4: the kernel's own count, taken from the timed run itself, so
nothing watches the run and slows it). A run on a machine with two or more cores does its missing-data
step and age spline in a second, forked process (analysis/core/beside.py); the kernel's count for the run is then the
larger of the two processes, so the peak reported is the run's own (which it logs) plus what the second
process grew above its size when forked (which the run also logs): an upper bound on the two together.

Each run logs the seconds of its steps on stderr; the no-figures run's are kept in benchmark_steps.csv
and summed in benchmark.csv as reading (read and validate), the paper's analyses (employment, competing
risks, in-work support, access, outcome, sites: the steps whose fits `bench/fits.R` also does, among
others) and capacity with the referee's sensitivity analyses (missing data, clustering, age spline,
power, multiplicity: R's script does none of them), so a comparison with R can be made like for like.
What the steps do not cover (imports, disclosure control, writing, figures) is the rest of the wall time.
The spans of those two steps in the sums are the run's waits for the second process; that process's own
work is a row per step in benchmark_steps.csv and the column second_process_s.

Environment: BENCH_SIZES (default 10000,100000,1000000), BENCH_PARQUET_SIZES (default 1000000),
BENCH_REFERENCE_MAX (largest size for the reference fitters, default 100000), BENCH_R_MAX (largest size
for R, default 1000000).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import psutil

from analysis.questions.referee import BESIDE as BESIDE_STEPS, STEPS as SENSITIVITY  # SENSITIVITY: no counterpart in R's script

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
EXTRACT_DATE = "2024-02-27"
REPEAT_UP_TO = 100_000
STEP = re.compile(r"^  (?:(read and validated) in|(.+?):) (\d+\.\d) s$")
SECOND = re.compile(r"^  (.+?) ran in a second process: (\d+\.\d) s of work, its memory (\d+\.\d+) GiB above", re.M)
OWN_PEAK = re.compile(r"^peak memory of this process: (\d+\.\d+) GiB$", re.M)
READING = "read and validated"
BESIDE = "in a second process, beside the others"


class Timed:
    """One command run to the end: wall seconds, peak resident set size (GiB) and its stderr."""

    def __init__(self, command: list[str]):
        with tempfile.TemporaryFile() as err:
            start = time.perf_counter()
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
            _, status, usage = os.wait4(process.pid, 0)  # the child's own rusage (ru_maxrss in KiB on Linux)
            self.wall = time.perf_counter() - start
            process.returncode = os.waitstatus_to_exitcode(status)
            err.seek(0)
            self.stderr = err.read().decode(errors="replace")
        if process.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{self.stderr[-2000:]}")
        self.peak_gib = usage.ru_maxrss / 2 ** 20
        added, own = [float(m.group(3)) for m in SECOND.finditer(self.stderr)], OWN_PEAK.search(self.stderr)
        if added and own:
            # The kernel's count for a process it waited for is the largest of it and its children, and a
            # forked child's count includes the pages it shares with its parent. The two processes together:
            # the run's own peak plus the most the second process added (each of its lines gives its growth
            # so far), an upper bound (the peaks need not coincide in time).
            self.peak_gib = float(own.group(1)) + max(added)


def measure(command: list[str], repeats: int = 1) -> Timed:
    """The run with the median wall time of `repeats`, its peak memory the largest of them."""
    runs = sorted((Timed(command) for _ in range(repeats)), key=lambda r: r.wall)
    middle = runs[len(runs) // 2]
    middle.peak_gib = max(r.peak_gib for r in runs)
    return middle


def steps(stderr: str) -> list[tuple[str, float]]:
    """The (step, seconds) a run logged: each step's span in the run's own process, and the own work of a
    step done in a second process beside the others (its span above is only the wait for its result)."""
    found = [STEP.match(line) for line in stderr.splitlines()]
    spans = [(m.group(1) or m.group(2), float(m.group(3))) for m in found if m]
    return spans + [(f"{m.group(1)} ({BESIDE})", float(m.group(2))) for m in SECOND.finditer(stderr)]


def part(step: str) -> str:
    if step.endswith(f"({BESIDE})"):
        return BESIDE
    return "reading" if step == READING else "capacity and sensitivity" if step in SENSITIVITY else "the paper's analyses"


def time_run(n: int, extract: Path, reference: Path, out: Path, sites: Path | None = None) -> tuple[dict, list]:
    """`ips-analysis run` with figures and without, as a user would call it: the row of benchmark.csv and
    the no-figures run's steps."""
    command = [str(BIN / "ips-analysis"), "run", str(extract), "--reference", str(reference),
               "--extract-date", EXTRACT_DATE, "--out", str(out)] + (["--sites", str(sites)] if sites else [])
    repeats = 3 if n <= REPEAT_UP_TO else 1
    with_figures, without = measure(command, repeats), measure(command + ["--no-figures"], repeats)
    logged = steps(without.stderr)
    row = {"rows": n, "input": extract.suffix.lstrip("."), "ips_analysis_s": with_figures.wall,
           "ips_analysis_peak_gib": with_figures.peak_gib, "ips_analysis_no_figures_s": without.wall}
    for name, column in (("reading", "reading_s"), ("the paper's analyses", "paper_analyses_s"),
                         ("capacity and sensitivity", "capacity_and_sensitivity_s"), (BESIDE, "second_process_s")):
        row[column] = sum(seconds for step, seconds in logged if part(step) == name)
    return row, [{"rows": n, "input": row["input"], "step": step, "part": part(step), "seconds": seconds}
                 for step, seconds in logged]


def as_parquet(extract: Path) -> Path:
    """The CSV written as Parquet with the column types pyarrow infers (dates as dates, ages as integers)."""
    import pyarrow.parquet as pq
    from pyarrow import csv as pacsv

    target = extract.with_suffix(".parquet")
    pq.write_table(pacsv.read_csv(extract), target)
    return target


def sizes_from(variable: str, default: str) -> list[int]:
    return [int(s) for s in os.environ.get(variable, default).split(",") if s.strip()]


def main() -> None:
    sizes = sizes_from("BENCH_SIZES", "10000,100000,1000000")
    parquet_sizes = sizes_from("BENCH_PARQUET_SIZES", "1000000")
    reference_max = int(os.environ.get("BENCH_REFERENCE_MAX", "100000"))
    r_max = int(os.environ.get("BENCH_R_MAX", "1000000"))
    rscript = shutil.which("Rscript")
    rows, step_rows = [], []
    started, at = time.perf_counter(), checkout()
    with tempfile.TemporaryDirectory() as tmp:
        data = ROOT / "data_synthetic"
        row, logged = time_run(539, data / "ips_extract.csv", data / "reference_population.csv",
                               Path(tmp) / "published", data / "making_ips_work_sites.csv")
        rows.append(row), step_rows.extend(logged)
        print(row, flush=True)
        for n in sizes:
            folder = Path(tmp) / str(n)
            subprocess.run([str(BIN / "ips-analysis"), "synth", "--n", str(n), "--seed", "1", "--out", str(folder)],
                           check=True, stderr=subprocess.DEVNULL)
            extract = folder / "ips_extract.csv"
            row, logged = time_run(n, extract, folder / "reference_population.csv", folder / "results")
            if n <= reference_max:
                fitted = measure([sys.executable, str(ROOT / "bench" / "reference_fits.py"), str(extract), EXTRACT_DATE])
                row["reference_fitters_s"], row["reference_fitters_peak_gib"] = fitted.wall, fitted.peak_gib
            if rscript and n <= r_max:
                fitted = measure([rscript, str(ROOT / "bench" / "fits.R"), str(extract), EXTRACT_DATE])
                row["r_survival_s"], row["r_survival_peak_gib"] = fitted.wall, fitted.peak_gib
            rows.append(row), step_rows.extend(logged)
            print(row, flush=True)
            if n in parquet_sizes:
                row, logged = time_run(n, as_parquet(extract), folder / "reference_population.csv", folder / "results")
                rows.append(row), step_rows.extend(logged)
                print(row, flush=True)
            shutil.rmtree(folder)
    table = pd.DataFrame(rows)
    table["machine"] = f"{os.cpu_count()} cores, {psutil.virtual_memory().total / 2 ** 30:.0f} GiB"
    out = ROOT / "results" / "benchmark.csv"
    table.to_csv(out, index=False, float_format="%.2f")
    pd.DataFrame(step_rows).to_csv(out.with_name("benchmark_steps.csv"), index=False, float_format="%.1f")
    # The README from the CSV as written (two decimals), so the two agree to the digit: from the unrounded
    # times a value such as 4.049 was 4.0 in one and 4.05, read as 4.1, by a reader of the other.
    write_readme(pd.read_csv(out), pd.read_csv(out.with_name("benchmark_steps.csv")),
                 how_measured(at, sizes, parquet_sizes, time.perf_counter() - started))
    print(f"wrote {out}, {out.with_name('benchmark_steps.csv')} and the table in README.md")


def summary(table: pd.DataFrame, step_table: pd.DataFrame) -> str:
    """The README's sentences about the table, made from it (hand-copied, they went stale when the table was
    regenerated): the like-for-like comparison with R at the largest size R ran, the largest size's run and
    where its time went, and Parquet against CSV."""
    csv = table[table["input"] == "csv"]
    sentences = []
    with_r = csv[csv["r_survival_s"].notna()] if "r_survival_s" in csv else csv.iloc[:0]
    if len(with_r):
        r = with_r.iloc[-1]
        like = r["reading_s"] + r["paper_analyses_s"]
        sentences.append(
            f"Like for like, reading and the paper's analyses at {int(r['rows']):,} rows took {like:.1f} s against "
            f"R's {r['r_survival_s']:.1f} s ({like / r['r_survival_s']:.2f} x R); the whole run with figures took "
            f"{r['ips_analysis_s']:.1f} s ({r['ips_analysis_s'] / r['r_survival_s']:.2f} x R) and peaked at "
            f"{r['ips_analysis_peak_gib']:.2f} GiB.")
    big = csv.iloc[-1]
    steps = step_table[(step_table["rows"] == big["rows"]) & (step_table["input"] == "csv")]
    largest = steps.sort_values("seconds", kind="stable").iloc[-1] if len(steps) else None
    sentences.append(
        f"At {int(big['rows']):,} rows the run took {big['ips_analysis_s']:.1f} s with figures and peaked at "
        f"{big['ips_analysis_peak_gib']:.2f} GiB: reading {big['reading_s']:.1f} s, the paper's analyses "
        f"{big['paper_analyses_s']:.1f} s, capacity and sensitivity {big['capacity_and_sensitivity_s']:.1f} s"
        + (f" (the longest step, {largest['step']}, {largest['seconds']:.1f} s)." if largest is not None else "."))
    if big.get("second_process_s", 0) > 0:
        waited = steps.loc[steps["step"].isin(BESIDE_STEPS), "seconds"].sum()
        sentences.append(
            f"Its missing-data step and age spline ran in a second process beside the other steps "
            f"({big['second_process_s']:.1f} s of work; the run waited {waited:.1f} s for them), and the peak counts "
            "both processes (this one's own peak plus what the second added above its size when forked).")
    for _, p in table[table["input"] == "parquet"].iterrows():
        c = csv[csv["rows"] == p["rows"]]
        if len(c):
            sentences.append(f"From Parquet at {int(p['rows']):,} rows reading took {p['reading_s']:.1f} s against "
                             f"{c['reading_s'].iloc[0]:.1f} s from CSV (the whole run {p['ips_analysis_s']:.1f} s "
                             f"against {c['ips_analysis_s'].iloc[0]:.1f} s).")
    return " ".join(sentences)


def checkout() -> str:
    """The commit the bench runs on, and whether the tracked files differ from it: read before the bench
    writes results/benchmark.csv and README.md, which would otherwise count as changes."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True).stdout.strip()
    return f"{commit or 'an unknown commit'}{' with uncommitted changes' if dirty else ''}"


def how_measured(at: str, sizes: list[int], parquet_sizes: list[int], seconds: float) -> str:
    """When, at which commit and with which sizes the bench ran, and how long it took: the sentence before
    the summary."""
    minutes, rest = divmod(round(seconds), 60)
    return (f"Measured on {time.strftime('%Y-%m-%d')} (`make bench` at {at}, BENCH_SIZES={','.join(map(str, sizes))} "
            f"BENCH_PARQUET_SIZES={','.join(map(str, parquet_sizes))}, {minutes} min {rest} s in all).")


def table_block(table: pd.DataFrame) -> str:
    """The README's bench table, between its markers."""
    def cell(value, digits=1):
        return "not run" if pd.isna(value) else f"{value:.{digits}f}"
    lines = ["| rows | ips-analysis run (s) | without figures (s) | of which reading (s) | the paper's analyses (s) "
             "| capacity + sensitivity analyses (s) | in a second process: missing data, age spline (s) | peak GiB "
             "| lifelines + statsmodels (s) | peak GiB | R survival + glm (s) | peak GiB |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for _, r in table.iterrows():
        label = f"{int(r['rows']):,}" + (" (the synthetic data)" if r["rows"] == 539 else "") + \
            (" (Parquet)" if r["input"] == "parquet" else "")
        lines.append(f"| {label} | {cell(r['ips_analysis_s'])} | {cell(r['ips_analysis_no_figures_s'])} | "
                     f"{cell(r['reading_s'])} | {cell(r['paper_analyses_s'])} | {cell(r['capacity_and_sensitivity_s'])} | "
                     f"{cell(r.get('second_process_s') or float('nan'))} | "
                     f"{cell(r['ips_analysis_peak_gib'], 2)} | "
                     f"{cell(r.get('reference_fitters_s'))} | {cell(r.get('reference_fitters_peak_gib'), 2)} | "
                     f"{cell(r.get('r_survival_s'))} | {cell(r.get('r_survival_peak_gib'), 2)} |")
    return "<!-- bench-start -->\n" + "\n".join(lines) + "\n<!-- bench-end -->"


def write_readme(table: pd.DataFrame, step_table: pd.DataFrame, measured: str) -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    text = re.sub(r"<!-- bench-start -->.*?<!-- bench-end -->", table_block(table), text, flags=re.S)
    said = "<!-- bench-summary-start -->\n" + measured + " " + summary(table, step_table) + "\n<!-- bench-summary-end -->"
    readme.write_text(re.sub(r"<!-- bench-summary-start -->.*?<!-- bench-summary-end -->", said, text, flags=re.S))


if __name__ == "__main__":
    main()

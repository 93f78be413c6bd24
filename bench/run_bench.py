"""`make bench`: wall time and peak memory of `ips-analysis run` at 10k, 100k, 1M and 5M rows made by
`ips-analysis synth`, beside the same fits with the reference fitters (lifelines, statsmodels) and with R
(survival, stats) where Rscript is installed, on the same files, in one run. Writes results/benchmark.csv
and the table in README.md. Timing lives here, never in the tests.

The first row is the committed 539-row synthetic data (with the Making IPS Work site table). Each
`ips-analysis run` is timed as a user runs it (disclosure preset nhs, figures drawn), and again with
--no-figures. Wall times on this kind of virtual machine vary by up to a third from run to run, so sizes
up to REPEAT_UP_TO rows are timed three times and the median is reported; larger sizes once. Peak memory
comes from one further run, as watching memory slows a run down.

Environment: BENCH_SIZES (default 10000,100000,1000000,5000000), BENCH_REFERENCE_MAX (largest size for
the reference fitters, default 100000), BENCH_R_MAX (largest size for R, default 1000000).
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

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
EXTRACT_DATE = "2024-02-27"
REPEAT_UP_TO = 100_000


def wall_seconds(command: list[str]) -> float:
    """Wall seconds of one command, with nothing else watching it (polling memory costs CPU on two cores)."""
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr.decode()[-2000:]}")
    return wall


def peak_gib(command: list[str]) -> float:
    """Peak memory (GiB) of one command: proportional set size summed over the process and its children,
    so pages the figure processes share with their parent are not counted twice. A separate run from the
    timed ones, as reading /proc/*/smaps every 50 ms slows the command down."""
    process = psutil.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while process.poll() is None:
        try:
            tree = [process] + process.children(recursive=True)
            peak = max(peak, sum(p.memory_full_info().pss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.05)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{process.stderr.read().decode()[-2000:]}")
    return peak / 2 ** 30


def measure(command: list[str], repeats: int = 1) -> tuple[float, float]:
    """Median wall seconds over `repeats` runs, and the peak memory of one more run."""
    walls = [wall_seconds(command) for _ in range(repeats)]
    return float(pd.Series(walls).median()), peak_gib(command)


def time_run(n: int, extract: Path, reference: Path, out: Path, sites: Path | None = None) -> dict:
    """`ips-analysis run` with figures and without, as a user would call it."""
    command = [str(BIN / "ips-analysis"), "run", str(extract), "--reference", str(reference),
               "--extract-date", EXTRACT_DATE, "--out", str(out)] + (["--sites", str(sites)] if sites else [])
    repeats = 3 if n <= REPEAT_UP_TO else 1
    row = {}
    row["ips_analysis_s"], row["ips_analysis_peak_gib"] = measure(command, repeats)
    row["ips_analysis_no_figures_s"] = float(pd.Series([wall_seconds(command + ["--no-figures"])
                                                        for _ in range(repeats)]).median())
    return row


def main() -> None:
    sizes = [int(s) for s in os.environ.get("BENCH_SIZES", "10000,100000,1000000,5000000").split(",")]
    reference_max = int(os.environ.get("BENCH_REFERENCE_MAX", "100000"))
    r_max = int(os.environ.get("BENCH_R_MAX", "1000000"))
    rscript = shutil.which("Rscript")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = ROOT / "data_synthetic"
        published = {"rows": 539, **time_run(539, data / "ips_extract.csv", data / "reference_population.csv",
                                             Path(tmp) / "published", data / "making_ips_work_sites.csv")}
        rows.append(published)
        print(published, flush=True)
        for n in sizes:
            folder = Path(tmp) / str(n)
            subprocess.run([str(BIN / "ips-analysis"), "synth", "--n", str(n), "--seed", "1", "--out", str(folder)],
                           check=True, stderr=subprocess.DEVNULL)
            extract = str(folder / "ips_extract.csv")
            row = {"rows": n, **time_run(n, Path(extract), folder / "reference_population.csv", folder / "results")}
            if n <= reference_max:
                row["reference_fitters_s"], row["reference_fitters_peak_gib"] = measure(
                    [sys.executable, str(ROOT / "bench" / "reference_fits.py"), extract, EXTRACT_DATE])
            if rscript and n <= r_max:
                row["r_survival_s"], row["r_survival_peak_gib"] = measure(
                    [rscript, str(ROOT / "bench" / "fits.R"), extract, EXTRACT_DATE])
            rows.append(row)
            print(row, flush=True)
            shutil.rmtree(folder)
    table = pd.DataFrame(rows)
    table["machine"] = f"{os.cpu_count()} cores, {psutil.virtual_memory().total / 2 ** 30:.0f} GiB"
    out = ROOT / "results" / "benchmark.csv"
    table.to_csv(out, index=False, float_format="%.2f")
    write_readme(table)
    print(f"wrote {out} and the table in README.md")


def write_readme(table: pd.DataFrame) -> None:
    def cell(value, digits=1):
        return "not run" if pd.isna(value) else f"{value:.{digits}f}"
    lines = ["| rows | ips-analysis run (s) | without figures (s) | peak GiB | lifelines + statsmodels (s) | peak GiB "
             "| R survival + glm (s) | peak GiB |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for _, r in table.iterrows():
        label = f"{int(r['rows']):,}" + (" (the synthetic data)" if r["rows"] == 539 else "")
        lines.append(f"| {label} | {cell(r['ips_analysis_s'])} | {cell(r['ips_analysis_no_figures_s'])} | "
                     f"{cell(r['ips_analysis_peak_gib'], 2)} | "
                     f"{cell(r.get('reference_fitters_s'))} | {cell(r.get('reference_fitters_peak_gib'), 2)} | "
                     f"{cell(r.get('r_survival_s'))} | {cell(r.get('r_survival_peak_gib'), 2)} |")
    readme = ROOT / "README.md"
    text = readme.read_text()
    block = "<!-- bench-start -->\n" + "\n".join(lines) + "\n<!-- bench-end -->"
    readme.write_text(re.sub(r"<!-- bench-start -->.*?<!-- bench-end -->", block, text, flags=re.S))


if __name__ == "__main__":
    main()

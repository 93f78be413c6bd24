"""`make bench`: wall time and peak memory of `ips-analysis run` at 10k, 100k, 1M and 5M rows made by
`ips-analysis synth`, beside the same fits with the reference fitters (lifelines, statsmodels) and with R
(survival, stats) where Rscript is installed, on the same files, in one run. Writes results/benchmark.csv
and the table in README.md. Timing lives here, never in the tests.

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


def measure(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak memory (GiB) of one command: proportional set size summed over the process and
    its children, so pages the figure workers share with their parent are not counted twice."""
    start = time.perf_counter()
    process = psutil.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while process.poll() is None:
        try:
            tree = [process] + process.children(recursive=True)
            peak = max(peak, sum(p.memory_full_info().pss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.05)
    wall = time.perf_counter() - start
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{process.stderr.read().decode()[-2000:]}")
    return wall, peak / 2 ** 30


def main() -> None:
    sizes = [int(s) for s in os.environ.get("BENCH_SIZES", "10000,100000,1000000,5000000").split(",")]
    reference_max = int(os.environ.get("BENCH_REFERENCE_MAX", "100000"))
    r_max = int(os.environ.get("BENCH_R_MAX", "1000000"))
    rscript = shutil.which("Rscript")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            folder = Path(tmp) / str(n)
            subprocess.run([str(BIN / "ips-analysis"), "synth", "--n", str(n), "--seed", "1", "--out", str(folder)],
                           check=True, stderr=subprocess.DEVNULL)
            extract = str(folder / "ips_extract.csv")
            row = {"rows": n}
            row["ips_analysis_s"], row["ips_analysis_peak_gib"] = measure(
                [str(BIN / "ips-analysis"), "run", extract, "--reference", str(folder / "reference_population.csv"),
                 "--extract-date", EXTRACT_DATE, "--out", str(folder / "results")])
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
    lines = ["| rows | ips-analysis run (s) | peak GiB | lifelines + statsmodels (s) | peak GiB | R survival + glm (s) | peak GiB |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for _, r in table.iterrows():
        lines.append(f"| {int(r['rows']):,} | {cell(r['ips_analysis_s'])} | {cell(r['ips_analysis_peak_gib'], 2)} | "
                     f"{cell(r.get('reference_fitters_s'))} | {cell(r.get('reference_fitters_peak_gib'), 2)} | "
                     f"{cell(r.get('r_survival_s'))} | {cell(r.get('r_survival_peak_gib'), 2)} |")
    readme = ROOT / "README.md"
    text = readme.read_text()
    block = "<!-- bench-start -->\n" + "\n".join(lines) + "\n<!-- bench-end -->"
    readme.write_text(re.sub(r"<!-- bench-start -->.*?<!-- bench-end -->", block, text, flags=re.S))


if __name__ == "__main__":
    main()

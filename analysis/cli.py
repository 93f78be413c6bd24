"""The command line: `ips-analysis synth|validate|mapping-template|run|report`. A user's mistake prints a message, not a traceback."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .load import InputError, Problem
from .render import RenderError


def _synth(args) -> None:
    from .calibration import Calibration
    from .files import write_csv_atomic
    from .synthetic import generate, making_ips_work_sites

    cal = Calibration.read(args.calibration) if args.calibration else Calibration.read()
    extract, reference = generate(cal, n=args.n, seed=args.seed)
    out = Path(args.out)
    write_csv_atomic(out / "ips_extract.csv", extract)
    write_csv_atomic(out / "reference_population.csv", reference)
    if args.n is None:
        write_csv_atomic(out / "making_ips_work_sites.csv", making_ips_work_sites(cal))
    print(f"wrote {len(extract)} rows to {out / 'ips_extract.csv'} and the CMHT table to "
          f"{out / 'reference_population.csv'}", file=sys.stderr)


def _validate(args) -> None:
    from .load import load_extract
    from .mapping import load_mapping

    mapping = load_mapping(Path(args.mapping)) if args.mapping else None
    data = load_extract(Path(args.extract), args.extract_date, mapping)
    print(f"{args.extract}: {len(data)} rows, no problems found")


def _mapping_template(args) -> None:
    from .load import identifier_problems
    from .mapping import mapping_template
    from .read import read_table

    raw = read_table(Path(args.extract))
    identifiers = {p.column for p in identifier_problems(raw, args.extract)}
    text = mapping_template(raw, args.extract, identifiers)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote a starting mapping to {args.out}: check every line, then run `ips-analysis validate "
              f"{args.extract} --mapping {args.out}`", file=sys.stderr)
    else:
        print(text, end="")
    for column in sorted(identifiers):
        print(f"warning: column '{column}' looks like a direct identifier: remove it from the file", file=sys.stderr)


def _run(args) -> None:
    from .disclosure import preset
    from .pipeline import run

    from .capacity import Options

    rule = preset(args.disclosure, args.disclosure_threshold, args.rounding_base)
    started = time.perf_counter()
    options = Options(specialists_wte=args.specialists).with_limits(args.in_work_limit or [], args.job_seeking_limit or [])
    key = run(Path(args.extract), args.extract_date, Path(args.out), args.reference, args.sites, args.mapping,
              args.entry_from, args.entry_to, rule, not args.no_figures, progress=lambda m: print(m, file=sys.stderr),
              exclude_invalid=args.exclude_invalid, service_name=args.service_name, need=args.need,
              capacity_options=options, staffing=Path(args.staffing) if args.staffing else None)
    print(f"wrote {len(key)} key results and their tables to {Path(args.out).resolve()} in "
          f"{time.perf_counter() - started:.1f} s (disclosure control: {rule.describe()})")


def _report(args) -> None:
    from .render import render

    results = Path(args.results).resolve()
    if not (results / "key_results.csv").exists():
        raise InputError([Problem(str(results), None, None, "no key_results.csv",
                                  "a folder written by `ips-analysis run`")])
    from .pipeline import SYNTHETIC_SERVICE
    from .reporting import Results

    run = Results(results)  # the run's own service name and end of follow-up unless given
    params = {"results_dir": str(results),
              "service_name": args.service_name or run.info("service_name", SYNTHETIC_SERVICE),
              "extract_date": args.extract_date or run.info("extract_date", "2024-02-27")}
    renderer, written = render(Path(args.out), params, profile="synthetic" if run.synthetic else "trust",
                               progress=lambda m: print(m, file=sys.stderr))
    print(f"rendered {len(written)} files with the {renderer} renderer into {Path(args.out).resolve()}")


def _robustness(args) -> None:
    from .robustness import write

    table = write(Path(args.out))
    print(f"wrote {len(table)} rows to {Path(args.out).resolve()}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ips-analysis", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    synth = sub.add_parser("synth", help="write a synthetic extract and CMHT reference table")
    synth.add_argument("--n", type=int, default=None, help="rows (default: the published cohort, 539)")
    synth.add_argument("--seed", type=int, default=None, help="random seed (default: the calibration's)")
    synth.add_argument("--out", required=True, help="folder to write into")
    synth.add_argument("--calibration", default=None, help="calibration CSV (default: the shipped one)")
    synth.set_defaults(func=_synth)

    validate = sub.add_parser("validate", help="check an extract against the data contract")
    validate.add_argument("extract", help="the extract: CSV (any common encoding, or .csv.gz), .xlsx or .parquet")
    validate.add_argument("--extract-date", default=None, help="end of follow-up, YYYY-MM-DD")
    validate.add_argument("--mapping", default=None, help="YAML mapping of the file's columns and codes")
    validate.add_argument("--problems", default=None, metavar="CSV",
                          help="when the input has problems, write every one to this CSV (file, row, column, found, expected)")
    validate.set_defaults(func=_validate)

    template = sub.add_parser("mapping-template", help="write a starting mapping file from an extract: every column, "
                              "every code found, the contract's allowed values beside them")
    template.add_argument("extract", help="the extract: CSV (any common encoding, or .csv.gz), .xlsx or .parquet")
    template.add_argument("--out", default=None, help="the YAML file to write (default: print it)")
    template.set_defaults(func=_mapping_template)

    run = sub.add_parser("run", help="run every analysis and write the results tables and figures")
    run.add_argument("extract", help="the extract: CSV (any common encoding, or .csv.gz), .xlsx or .parquet")
    run.add_argument("--reference", default=None, help="the CMHT case-load table (characteristic,category,count)")
    run.add_argument("--need", default=None, help="optional need-based denominator: the people in the case-load who "
                     "want work, in the same format; access is then also compared against it")
    run.add_argument("--sites", default=None, help="a site table (site,referrals,jobs), e.g. a benchmark; the extract's own sites (its "
                          "site column) are then analysed beside it; default: the extract's sites alone")
    run.add_argument("--extract-date", required=True, help="end of follow-up, YYYY-MM-DD")
    run.add_argument("--out", required=True, help="folder for the results (replaced as a whole on success)")
    run.add_argument("--mapping", default=None, help="YAML mapping of the file's columns and codes to the contract's")
    run.add_argument("--disclosure", choices=["nhs", "none"], default="nhs",
                     help="disclosure control preset (default nhs: small counts suppressed, others rounded to 5)")
    run.add_argument("--disclosure-threshold", type=int, default=None, help="suppress counts from 1 to this")
    run.add_argument("--rounding-base", type=int, default=None, help="round other counts to a multiple of this")
    run.add_argument("--no-figures", action="store_true", help="write the tables only (faster; no reports)")
    run.add_argument("--entry-from", default=None, help="first contacts from this date (default: the earliest)")
    run.add_argument("--entry-to", default=None, help="first contacts up to this date (default: the latest)")
    run.add_argument("--service-name", default=None,
                     help="the service's name, recorded for the reports (default: 'IPS service (EXTRACT)')")
    run.add_argument("--exclude-invalid", action="store_true",
                     help="leave out rows that break a row-level rule (bad date or code, duplicate id, dates out of "
                          "order), counted by reason in exclusions.csv, instead of stopping; file-level problems still stop")
    run.add_argument("--problems", default=None, metavar="CSV",
                          help="when the input has problems, write every one to this CSV (file, row, column, found, expected)")
    run.add_argument("--specialists", type=float, default=None, metavar="WTE",
                     help="whole-time equivalent employment specialists, for the case-load per specialist (capacity)")
    run.add_argument("--staffing", default=None, metavar="CSV",
                     help="specialists by month (month YYYY-MM, specialists_wte); months it lists override --specialists")
    run.add_argument("--in-work-limit", type=float, action="append", metavar="MONTHS",
                     help="a what-if: in-work support limited to this many months (repeatable; 6, 9 and 12 always)")
    run.add_argument("--job-seeking-limit", type=float, action="append", metavar="MONTHS",
                     help="a what-if: job seeking limited to this many months (repeatable; 6, 9 and 12 always)")
    run.set_defaults(func=_run)

    report = sub.add_parser("report", help="render the Quarto reports (HTML and PDF) for a results folder")
    report.add_argument("--results", required=True, help="a folder written by `ips-analysis run`")
    report.add_argument("--out", required=True, help="folder for the rendered reports")
    report.add_argument("--service-name", default=None,
                        help="the service named on every page (default: the one the run recorded)")
    report.add_argument("--extract-date", default=None,
                        help="end of follow-up, shown in the reports (default: the run's --extract-date)")
    report.set_defaults(func=_report)

    robust = sub.add_parser("robustness", help="how often each published conclusion holds across seeds and the "
                            "assumptions behind it (the synthetic data; about 45 s)")
    robust.add_argument("--out", default="results/robustness.csv", help="the CSV to write")
    robust.set_defaults(func=_robustness)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except InputError as err:
        print(f"error: the input has {len(err.problems)} problem(s):\n{err.message()}", file=sys.stderr)
        if getattr(args, "problems", None):
            err.write_csv(args.problems)
            print(f"every problem is in {args.problems}", file=sys.stderr)
        elif len(err.problems) > 1:
            print("(--problems FILE.csv writes every problem, one row each, for a spreadsheet)", file=sys.stderr)
        return 2
    except RenderError as err:
        print(f"error: rendering failed: {err}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())

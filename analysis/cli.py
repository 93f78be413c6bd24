"""The command line: `ips-analysis synth|validate|mapping-template|run|report|pool`. A user's mistake prints a message, not a traceback."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from analysis.core.contract import DEFAULT_EPISODE_RULE, EPISODE_RULES
from analysis.data.load import InputError, Problem
from analysis.book.render import RenderError


def _synth(args) -> None:
    from analysis.data.calibration import Calibration
    from analysis.core.files import write_csv_atomic
    from analysis.synthetic import generate, making_ips_work_sites

    cal = Calibration.read(args.calibration) if args.calibration else Calibration.read()
    extract, reference = generate(cal, n=args.n, seed=args.seed)
    out = Path(args.out)
    write_csv_atomic(out / "ips_extract.csv", extract)
    write_csv_atomic(out / "reference_population.csv", reference)
    if args.n is None:
        write_csv_atomic(out / "making_ips_work_sites.csv", making_ips_work_sites(cal))
    print(f"wrote {len(extract)} rows to {out / 'ips_extract.csv'} and the CMHT table to "
          f"{out / 'reference_population.csv'}", file=sys.stderr)


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _validate(args) -> None:
    from analysis.data.load import episode_note, load_extract
    from analysis.data.mapping import load_mapping

    mapping = load_mapping(Path(args.mapping)) if args.mapping else None
    data = load_extract(Path(args.extract), args.extract_date, mapping, note=_say)
    episodes = episode_note(data)
    if episodes:
        _say(f"note: {episodes}")
    if args.problems:
        InputError([]).write_csv(args.problems)
        _say(f"no problems: {args.problems} has its header row only")
    print(f"{args.extract}: {len(data)} rows, no problems found")


def _mapping_template(args) -> None:
    from analysis.data.load import identifier_problems
    from analysis.data.read import read_table
    from analysis.data.template import mapping_template

    raw = read_table(Path(args.extract), note=_say)
    identifiers = {p.column for p in identifier_problems(raw, args.extract)}
    text = mapping_template(raw, args.extract, identifiers, note=_say)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        _say(f"wrote a starting mapping to {args.out}: check every line, then run `ips-analysis validate "
             f"{args.extract} --mapping {args.out}`")
    else:
        print(text, end="")
    for column in sorted(identifiers):
        _say(f"warning: column '{column}' looks like a direct identifier: remove it from the file")


def _jobs(text: str) -> int:
    """--jobs: a whole number of processes, 1 or more (argparse reports anything else as a usage error)."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}': expected a whole number of processes, 1 or more")
    return int(text)


def _run(args) -> None:
    from analysis.release import preset
    from analysis.pipeline import run

    from analysis.questions.capacity import Options

    rule = preset(args.disclosure, args.disclosure_threshold, args.rounding_base, args.class_disclosure)
    started = time.perf_counter()
    options = Options(specialists_wte=args.specialists).with_limits(args.in_work_limit or [], args.job_seeking_limit or [])
    key = run(Path(args.extract), args.extract_date, Path(args.out), args.reference, args.sites, args.mapping,
              args.entry_from, args.entry_to, rule, not args.no_figures, progress=_say,
              exclude_invalid=args.exclude_invalid, service_name=args.service_name, need=args.need,
              episode=args.episode, local_dir=args.local_dir, problems=args.problems,
              capacity_options=options, staffing=Path(args.staffing) if args.staffing else None, jobs=args.jobs)
    if sys.platform.startswith("linux"):  # ru_maxrss is KiB there; bench/run_bench.py reads this line
        from analysis.core.beside import GIB, peak_bytes

        _say(f"peak memory of this process: {peak_bytes() / GIB:.2f} GiB")
    print(f"wrote {len(key)} key results and their tables to {Path(args.out).resolve()} in "
          f"{time.perf_counter() - started:.1f} s (disclosure control: {rule.describe()})")


def _report(args) -> None:
    from analysis.book.render import render

    results = Path(args.results).resolve()
    if not (results / "key_results.csv").exists():
        raise InputError([Problem(str(results), None, None, "no key_results.csv",
                                  "a folder written by `ips-analysis run`")])
    from analysis.pipeline import SYNTHETIC_SERVICE
    from analysis.book.reporting import Results

    run = Results(results)  # the run's own service name and end of follow-up unless given
    params = {"results_dir": str(results),
              "service_name": args.service_name or run.info("service_name", SYNTHETIC_SERVICE),
              "extract_date": args.extract_date or run.info("extract_date", "2024-02-27")}
    renderer, written = render(Path(args.out), params, profile="synthetic" if run.synthetic else "trust",
                               formats=tuple(dict.fromkeys(args.to or ["html", "pdf"])),
                               progress=lambda m: print(m, file=sys.stderr))
    print(f"rendered {len(written)} files with the {renderer} renderer into {Path(args.out).resolve()}")


def _pool(args) -> None:
    from analysis.pool import run

    if bool(args.results) == bool(args.site_table):
        raise InputError([Problem("(the command line)", None, None, "both results folders and --site-table" if
                                  args.results else "neither results folders nor --site-table",
                                  "two or more results folders, or one --site-table")])
    pooled = run([Path(f) for f in args.results], Path(args.out), Path(args.site_table) if args.site_table else None,
                 args.fidelity, args.method, args.hartung_knapp, args.internal, args.name, not args.no_book,
                 progress=lambda m: print(m, file=sys.stderr))
    print(f"pooled {int((pooled['k'] >= 2).sum())} measures and groups into {Path(args.out).resolve()}")


def _robustness(args) -> None:
    from analysis.robustness import write

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
                          help="write every problem to this CSV (file, row, column, found, expected); header only when none")
    validate.set_defaults(func=_validate)

    template = sub.add_parser("mapping-template", help="write a starting mapping file from an extract: every column, "
                              "every code found, the contract's allowed values beside them")
    template.add_argument("extract", help="the extract: CSV (any common encoding, or .csv.gz), .xlsx or .parquet")
    template.add_argument("--out", default=None, help="the YAML file to write (default: print it)")
    template.set_defaults(func=_mapping_template)

    run = sub.add_parser("run", help="run every analysis and write the results tables and figures")
    run.add_argument("extract", help="the extract: CSV (any common encoding, or .csv.gz), .xlsx or .parquet")
    run.add_argument("--reference", action="append", default=None, metavar="[CHARACTERISTIC=]FILE",
                     help="the CMHT case-load table: characteristic,category,count, or a table of one characteristic "
                     "(e.g. --reference ethnicity=cmht.xlsx: a category column, perhaps a description column, a count "
                     "column); repeat it for more characteristics")
    run.add_argument("--need", action="append", default=None, metavar="[CHARACTERISTIC=]FILE",
                     help="optional need-based denominator: the people in the case-load who want work, in the same "
                     "shapes; access is then also compared against it")
    run.add_argument("--sites", default=None, help="a site table (site,referrals,jobs), e.g. a benchmark; the extract's own sites (its "
                          "site column) are then analysed beside it; default: the extract's sites alone")
    run.add_argument("--extract-date", required=True, help="end of follow-up, YYYY-MM-DD")
    run.add_argument("--out", required=True, help="folder for the results (replaced as a whole on success)")
    run.add_argument("--mapping", default=None, help="YAML mapping of the file's columns and codes to the contract's")
    run.add_argument("--disclosure", choices=["nhs", "none"], default="nhs",
                     help="disclosure control preset (default nhs: small counts suppressed, others rounded to 5)")
    run.add_argument("--disclosure-threshold", type=int, default=None, help="suppress counts from 1 to this")
    run.add_argument("--rounding-base", type=int, default=None, help="round other counts to a multiple of this")
    run.add_argument("--class-disclosure", choices=["hide", "show"], default="hide",
                     help="a group of 8 or more in which nobody, or everybody, had the outcome tells each member's "
                     "outcome: hide it as a small group is (default), or show it (the IG lead's decision); where it "
                     "applied goes to the --local-dir record")
    run.add_argument("--no-figures", action="store_true", help="write the tables only (faster; no reports)")
    run.add_argument("--jobs", type=_jobs, default=2, metavar="N",
                     help="processes to use (default 2): with 2 or more, the missing-data imputation and the age "
                          "spline run in a second process beside the other analyses, on Linux with two or more cores; 1 runs everything in "
                          "one process. The results are the same either way")
    run.add_argument("--entry-from", default=None, help="first contacts from this date (default: the earliest)")
    run.add_argument("--entry-to", default=None, help="first contacts up to this date (default: the latest)")
    run.add_argument("--service-name", default=None,
                     help="the service's name, recorded for the reports (default: 'IPS service (EXTRACT)')")
    run.add_argument("--exclude-invalid", action="store_true",
                     help="leave out rows that break a row-level rule (bad date or code, duplicate id, dates out of "
                          "order), counted by reason in exclusions.csv, instead of stopping; file-level problems still stop")
    run.add_argument("--problems", default=None, metavar="CSV",
                     help="write every problem to this CSV (file, row, column, found, expected): those that stopped "
                     "the run, or with --exclude-invalid those of the rows left out; never inside --out")
    run.add_argument("--episode", choices=sorted(EPISODE_RULES), default=DEFAULT_EPISODE_RULE,
                     help="which episode of a person with several is analysed: " + "; ".join(
                         f"{k}: {v}" for k, v in EPISODE_RULES.items()) + f" (default {DEFAULT_EPISODE_RULE}); the "
                     "others are counted in exclusions.csv")
    run.add_argument("--local-dir", default=None, metavar="DIR",
                     help="a folder outside --out for the record the trust keeps and never sends: the exact exclusion "
                     "counts, the problems of rows left out, and each input's SHA-256")
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
    report.add_argument("--to", choices=["html", "pdf"], action="append", default=None,
                        help="render only this format (repeatable; default: both, the HTML pages and the PDF)")
    report.set_defaults(func=_report)

    pool = sub.add_parser("pool", help="pool several services' released results folders (two-stage random-effects "
                          "meta-analysis) and render the Pooled services book")
    pool.add_argument("results", nargs="*", help="results folders written by `ips-analysis run`, one per service")
    pool.add_argument("--out", required=True, help="folder for the pooled results and book (replaced as a whole)")
    pool.add_argument("--site-table", default=None, help="pool a published site table (site,referrals,jobs) instead, "
                      "e.g. data_synthetic/making_ips_work_sites.csv: each site's job rate")
    pool.add_argument("--fidelity", default=None, help="CSV of service,ips25_total,band,review_date (IPS-25 total "
                      "25-125, or band good/fair/below fair): a meta-regression of the job rate on fidelity")
    pool.add_argument("--method", choices=["dl", "reml"], default="dl",
                      help="between-service variance: DerSimonian-Laird (default) or REML")
    pool.add_argument("--hartung-knapp", action="store_true", help="Hartung-Knapp confidence intervals (t, k-1 df)")
    pool.add_argument("--internal", action="store_true", help="allow releases made with --disclosure none (pooling "
                      "inside one organisation; the pooled outputs are then not for release)")
    pool.add_argument("--name", default=None, help="what the pooled services are called in the book")
    pool.add_argument("--no-book", action="store_true", help="write the tables and figures only")
    pool.set_defaults(func=_pool)

    robust = sub.add_parser("robustness", help="how often each published conclusion holds across seeds and the "
                            "assumptions behind it (the synthetic data; about 25 s)")
    robust.add_argument("--out", default="results/robustness.csv", help="the CSV to write")
    robust.set_defaults(func=_robustness)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except InputError as err:
        print(f"error: the input has {len(err.problems)} problem(s):\n{err.message()}", file=sys.stderr)
        if getattr(args, "problems", None) and not any(p.file == "--problems" for p in err.problems):
            err.write_csv(args.problems)
            print(f"every problem is in {args.problems}", file=sys.stderr)
        elif len(err.problems) > 1 and hasattr(args, "problems"):  # only the commands that have --problems
            print("(--problems FILE.csv writes every problem, one row each, for a spreadsheet)", file=sys.stderr)
        return 2
    except RenderError as err:
        print(f"error: rendering failed: {err}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())

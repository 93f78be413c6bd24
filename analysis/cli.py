"""The command line: `ips-analysis synth|validate|run`. A user's mistake prints a message, not a traceback."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .load import InputError


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

    data = load_extract(Path(args.extract), args.extract_date)
    print(f"{args.extract}: {len(data)} rows, no problems found")


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
    validate.add_argument("extract")
    validate.add_argument("--extract-date", default=None, help="end of follow-up, YYYY-MM-DD")
    validate.set_defaults(func=_validate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except InputError as err:
        print(f"error: the input has {len(err.problems)} problem(s):\n{err.message()}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

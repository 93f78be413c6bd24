"""Write tests/test_pool/estimates.csv, the input of metafor.R: the stage-one estimates the package derives
from the four synthetic services' committed releases (pooled/releases/A-D), the services that enter only.
Re-run after `make pool` re-makes the releases, then `Rscript tests/test_pool/metafor.R`:
    .venv/bin/python tests/test_pool/make_estimates.py && Rscript tests/test_pool/metafor.R
"""
from pathlib import Path

from analysis import pool

ROOT = Path(__file__).resolve().parent.parent.parent
services = sorted((pool.read_release(ROOT / "pooled" / "releases" / s) for s in "ABCD"), key=lambda s: s.name)
estimates = pool.service_estimates(services)
entered = estimates[estimates["entered"]].reset_index(drop=True)
entered[["measure", "factor", "level", "service", "estimate", "se"]].to_csv(
    Path(__file__).with_name("estimates.csv"), index=False, float_format="%.17g")

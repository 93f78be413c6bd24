"""Writes the person-level fixtures the R scripts here read (from the committed synthetic extract):
    .venv/bin/python tests/test_referee/make_fixture.py
outcome.csv, employment.csv, in_work.csv: the complete cases of each adjusted model, with age, site and
the response; levels.csv: each factor's levels with the reference first (the Python models' choice), and
pool_input.csv: estimates and variances for mice::pool.scalar."""
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.data.load import load_extract
from analysis.questions.model_frames import adjusted_levels, frames

HERE = Path(__file__).resolve().parent
EXTRACT = pd.Timestamp("2024-02-27")

data = load_extract(HERE.parents[1] / "data_synthetic" / "ips_extract.csv", EXTRACT)
levels_rows = []
for name, frame in frames(data, EXTRACT).items():
    levels, rows = adjusted_levels(frame, name == "outcome")
    columns = [c for c in ("days", "event", *levels, "age", "site") if c in rows]
    rows[columns].to_csv(HERE / f"{name}.csv", index=False)
    levels_rows += [{"analysis": name, "factor": f, "position": i, "level": lv}
                    for f, lv_list in levels.items() for i, lv in enumerate(lv_list)]
pd.DataFrame(levels_rows).to_csv(HERE / "levels.csv", index=False)
rng = np.random.default_rng(25)
m, k = 7, 3
pd.DataFrame({"imputation": np.repeat(np.arange(m), k), "parameter": np.tile(np.arange(k), m),
              "estimate": rng.normal(0.3, 0.1, m * k), "variance": rng.uniform(0.01, 0.04, m * k)}
             ).to_csv(HERE / "pool_input.csv", index=False)

"""Write examples/trust_extract.csv: the synthetic extract as a trust might export it (its own column names,
NHS Ethnic Category codes, local diagnosis labels, dd/mm/yyyy dates, an extra column, a few referrals
before the study year, a UTF-8 byte-order mark as Excel writes). Run: .venv/bin/python examples/make_example.py
"""
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def main() -> None:
    mapping = yaml.safe_load((HERE / "trust_mapping.yaml").read_text())
    data = pd.read_csv(ROOT / "data_synthetic" / "ips_extract.csv", dtype=str, keep_default_na=False)
    rng = np.random.default_rng(2024)
    codes = {"White": ["A", "B", "C"], "Mixed": ["D", "E", "F", "G"], "Asian": ["H", "J", "K", "L"],
             "Black": ["M", "N", "P"], "Other": ["R", "S"], "Not known": ["Z", "99"]}
    data["ethnicity"] = [rng.choice(codes[e]) for e in data["ethnicity"]]
    for column in ("gender", "diagnosis", "outcome"):
        inverse = {}
        for code, value in mapping["values"][column].items():
            inverse.setdefault(value, code)  # the first code listed for each value
        data[column] = data[column].map(inverse)
    # Twelve people referred in March 2022, before the study year: excluded by --entry-from, and counted.
    # They are copies of April 2022 referrals with every date moved back 31 days.
    early = data[data["first_contact_date"] < "2022-04-13"].head(12).copy()
    early["person_id"] = [f"EARLY{i:03d}" for i in range(len(early))]
    for column in ("first_contact_date", "outcome_date", "discharge_date"):
        moved = pd.to_datetime(early[column], errors="coerce") - pd.Timedelta(days=31)
        early[column] = moved.dt.strftime("%Y-%m-%d").fillna("")
    data = pd.concat([data, early], ignore_index=True)
    for column in ("first_contact_date", "outcome_date", "discharge_date"):
        dates = pd.to_datetime(data[column], errors="coerce")
        data[column] = dates.dt.strftime("%d/%m/%Y").fillna("")
    data["Employment Specialist"] = rng.choice(["ES1", "ES2", "ES3", "ES4"], len(data))
    data = data.rename(columns={v: k for k, v in mapping["columns"].items()})
    data["Client ID"] = data["Client ID"].str.replace("IPS", "C-", regex=False)
    text = data.to_csv(index=False, lineterminator="\n")
    (HERE / "trust_extract.csv").write_bytes("\ufeff".encode() + text.encode("utf-8"))
    reference = pd.read_csv(ROOT / "data_synthetic" / "reference_population.csv")
    reference[reference["characteristic"] == "ethnicity"].to_csv(HERE / "trust_cmht_ethnicity.csv", index=False,
                                                                  lineterminator="\n")


if __name__ == "__main__":
    main()

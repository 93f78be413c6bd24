"""What the Pooled services book (reports/pooled/) calls: a pooled results folder's tables as sentences and
Markdown tables. Every number comes from the folder `ips-analysis pool` wrote, through these helpers."""
from __future__ import annotations

import pandas as pd

from analysis.book import labels
from analysis.book.reporting import Results, anchor, fmt, md_table, p_text

RATE_MEASURES = ("job_rate_pct", "site_job_rate_pct", "positive_outcome_rate_pct", "cif_job_6m_pct", "cif_job_12m_pct")


class Pooled(Results):
    """A pooled results folder: services.csv, service_estimates.csv, pooled.csv, funnel.csv, and with a
    fidelity file fidelity.csv and meta_regression.csv."""

    def __init__(self, folder):
        super().__init__(folder)
        self.pooled = self.table("pooled")
        self.pooled["level"] = self.pooled["level"].astype(str)
        self.estimates = self.table("service_estimates")
        self.estimates["level"] = self.estimates["level"].astype(str)

    def figure(self, name: str):
        """A figure `ips-analysis pool` drew, or why there is none."""
        from IPython.display import Image, Markdown

        path = self.folder / "figures" / (name + ".png")
        if not path.exists():
            return Markdown("*Not drawn for this pooling: no fidelity file was given, or too few services have "
                            "the values it needs: see the tables.*")
        return Image(filename=str(path))

    @property
    def rate_measure(self) -> str:
        return "site_job_rate_pct" if self.info("input").startswith("a published site table") else "job_rate_pct"

    def name(self, measure: str) -> str:
        """A measure's label inside a sentence."""
        label = labels.POOLED[measure]
        return label[0].lower() + label[1:]

    def result(self, measure: str) -> pd.Series:
        return self.pooled[(self.pooled["measure"] == measure) & (self.pooled["factor"] == "all")].iloc[0]

    def headline(self, measure: str) -> str:
        """A measure's pooled value in a sentence: the estimate (linked to its key result), the 95% CI,
        the prediction interval and the heterogeneity."""
        found = self.pooled[(self.pooled["measure"] == measure) & (self.pooled["factor"] == "all")]
        if not len(found):
            return "not pooled from these inputs"
        r = found.iloc[0]
        if r["k"] < 2:
            return f"not pooled ({r['method']})"
        pi = (f"; 95% prediction interval for a new service {fmt(r['pi_low'], 1)} to {fmt(r['pi_high'], 1)}%"
              if pd.notna(r["pi_low"]) else "; no prediction interval from two services")
        return (f"[**{fmt(r['estimate'], 1)}%**](key-results.qmd#{anchor('pooled_' + measure)}) (95% CI "
                f"{fmt(r['conf_low'], 1)} to {fmt(r['conf_high'], 1)}%{pi}; I-squared {fmt(r['i2_pct'], 1)}%, "
                f"tau-squared {fmt(r['tau2'], 4)}, Cochran's Q {fmt(r['q'], 2)} on {int(r['q_df'])} df, {p_text(r['q_p'])}; "
                f"{int(r['k'])} services)")

    def rates_table(self):
        rows = self.pooled[self.pooled["measure"].isin(RATE_MEASURES)].copy()
        rows["q_text"] = [f"{fmt(q, 2)} ({int(df)})" if pd.notna(q) else "" for q, df in zip(rows["q"], rows["q_df"])]
        return md_table(rows, {"label": "Measure", "k": "Services", "estimate": "Pooled (%)", "conf_low": "95% CI low",
                               "conf_high": "95% CI high", "pi_low": "Prediction low", "pi_high": "Prediction high",
                               "i2_pct": "I-squared (%)", "tau2": "Tau-squared", "q_text": "Q (df)", "q_p": "p"},
                        digits={"estimate": 1, "conf_low": 1, "conf_high": 1, "pi_low": 1, "pi_high": 1,
                                "i2_pct": 1, "tau2": 4}, p_columns=("q_p",))

    def ratio_table(self, measure: str):
        rows = self.pooled[self.pooled["measure"] == measure].copy()
        rows["group"] = [f"{labels.factor(f)}: {lv} vs {ref}" for f, lv, ref in
                         zip(rows["factor"], rows["level"], rows["reference"])]
        out = self.left_out()
        names = out.groupby(["measure", "factor", "level"])["service"].agg("; ".join).rename("left_out_names")
        rows = rows.join(names, on=["measure", "factor", "level"])
        return md_table(rows, {"group": "Group", "k": "Services", "estimate": "Pooled ratio", "conf_low": "95% CI low",
                               "conf_high": "95% CI high", "pi_low": "Prediction low", "pi_high": "Prediction high",
                               "i2_pct": "I-squared (%)", "left_out_names": "Left out"},
                        digits={"estimate": 2, "conf_low": 2, "conf_high": 2, "pi_low": 2, "pi_high": 2, "i2_pct": 1})

    def service_table(self, measures=RATE_MEASURES):
        """Each service's own value with its 95% CI, whether it entered, and why not."""
        rows = self.estimates[self.estimates["measure"].isin(measures)].copy()
        rows["label"] = rows["measure"].map(labels.POOLED)
        rows["entered_text"] = ["yes" if e else f"no: {why}" for e, why in zip(rows["entered"], rows["reason"].fillna(""))]
        return md_table(rows, {"label": "Measure", "service": "Service", "value": "Value (%)", "conf_low": "95% CI low",
                               "conf_high": "95% CI high", "n": "n", "entered_text": "Entered"},
                        digits={"value": 1, "conf_low": 1, "conf_high": 1, "n": 0})

    def left_out(self) -> pd.DataFrame:
        """Every service value that did not enter its pooling, with the reason."""
        return self.estimates[~self.estimates["entered"].astype(bool)]

    def left_out_sentence(self) -> str:
        out = self.left_out()
        if not len(out):
            return "Every service published every value pooled: none was left out."
        blanked = int(out["reason"].str.startswith("blanked").sum())
        return (f"{len(out)} service values did not enter their pooling, {blanked} of them because the service's "
                "release blanks them (disclosure control): they were left out, never counted as zero. Each is "
                "listed with its reason in the tables below and in `service_estimates.csv`.")

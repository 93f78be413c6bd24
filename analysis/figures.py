"""Publication figures drawn from the results tables (never from person-level rows), byte-reproducible."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .results import MONTH_DAYS  # noqa: E402

plt.rcParams.update({"font.size": 9, "axes.spines.top": False,
                     "axes.spines.right": False, "figure.dpi": 100})
TICK_MONTHS = np.arange(0, 25, 3)


def save(fig, folder: Path, name: str) -> list[Path]:
    """PNG at 150 dpi without a software stamp, so the same results give the same bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    fig.savefig(path, dpi=150, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return [path]


def _steps(table: pd.DataFrame, column: str, start: float):
    x = np.concatenate([[0.0], table["time"].to_numpy(dtype=float) / MONTH_DAYS])
    y = np.concatenate([[start], table[column].to_numpy(dtype=float)])
    return x, y


def _risk_table(ax, rows: dict[str, list[str]], months) -> None:
    """Numbers at risk printed under the x axis, one line per curve."""
    for i, (label, counts) in enumerate(rows.items()):
        y = -0.18 - 0.07 * i
        ax.text(-0.07, y, label, transform=ax.transAxes, ha="right", va="center", fontsize=7)
        for m, c in zip(months, counts):
            ax.text(m, y, str(c), transform=ax.get_xaxis_transform(), ha="center", va="center", fontsize=7)
    ax.text(-0.07, -0.11, "Number at risk", transform=ax.transAxes, ha="right", va="center", fontsize=7,
            fontweight="bold")


def _month_axis(ax, max_month: float, label: str) -> list[int]:
    months = [int(m) for m in TICK_MONTHS if m <= max_month + 1e-9]
    ax.set_xticks(months)
    ax.set_xlim(0, months[-1] if months else 1)
    ax.set_xlabel(label)
    return months


def at_risk_counts(km: pd.DataFrame, months) -> list[str]:
    """People at risk at each month: n_risk of the first row at or after it ('-' where suppressed)."""
    times = km["time"].to_numpy(dtype=float)
    n_risk = km["n_risk"].to_numpy(dtype=float)
    idx = np.searchsorted(times, np.asarray(months, dtype=float) * MONTH_DAYS, side="left")
    counts = [n_risk[i] if i < len(n_risk) else 0.0 for i in idx]
    return ["-" if np.isnan(c) else str(int(c)) for c in counts]


def _curve_with_band(ax, table: pd.DataFrame, column: str, start: float, label: str, band_label: str) -> float:
    """A step curve with its 95% CI as a band; returns the last time (months) drawn."""
    x, y = _steps(table, column, start)
    ax.step(x, 100 * y, where="post", color="#1b6ca8", label=label)
    _, low = _steps(table, "conf_low", start)
    _, high = _steps(table, "conf_high", start)
    ax.fill_between(x, 100 * low, 100 * high, step="post", color="#1b6ca8", alpha=0.15, label=band_label)
    return float(x.max())


def cumulative_incidence(cif: pd.DataFrame, competing: pd.DataFrame, km: pd.DataFrame, folder: Path) -> list[Path]:
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    last = _curve_with_band(ax, cif, "cif", 0.0, "Employment (Aalen-Johansen)", "95% CI")
    x2, y2 = _steps(competing, "cif", 0.0)
    ax.step(x2, 100 * y2, where="post", color="#c0392b", label="Discharge without a job (competing event)")
    x3, y3 = _steps(km, "survival", 1.0)
    ax.step(x3, 100 * (1 - y3), where="post", color="grey", linestyle="--",
            label="1 - Kaplan-Meier (treats discharge as censoring)")
    months = _month_axis(ax, last, "Months since first IPS contact")
    ax.set_ylabel("Cumulative incidence (%)")
    ax.set_ylim(0, 100)
    ax.legend(frameon=False, loc="upper left")
    _risk_table(ax, {"All": at_risk_counts(km, months)}, months)
    return save(fig, folder, "employment_cumulative_incidence")


def km_by_group(curves: dict[str, pd.DataFrame], factor: str, name: str, ylabel: str, xlabel: str,
                folder: Path, invert: bool) -> list[Path]:
    """Kaplan-Meier curves by group (invert=True plots 1 - S, the share who had the event)."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2 + 0.15 * len(curves)))
    max_month = 0.0
    for label, km in curves.items():
        x, y = _steps(km, "survival", 1.0)
        first = km["n_risk"].iloc[0]
        ax.step(x, 100 * (1 - y) if invert else 100 * y, where="post",
                label=f"{label} (n={'suppressed' if pd.isna(first) else int(first)})")
        max_month = max(max_month, x.max())
    months = _month_axis(ax, max_month, xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 100)
    ax.set_title(f"By {factor.replace('_', ' ')}", loc="left")
    ax.legend(frameon=False, fontsize=7, loc="upper left" if invert else "upper right")
    _risk_table(ax, {label: at_risk_counts(km, months) for label, km in curves.items()}, months)
    return save(fig, folder, name)


def support_curve(km: pd.DataFrame, folder: Path) -> list[Path]:
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    last = _curve_with_band(ax, km, "survival", 1.0, "Still receiving in-work support (Kaplan-Meier)",
                            "95% CI (log-log)")
    ax.axvline(12, color="grey", linestyle=":", linewidth=1)
    months = _month_axis(ax, last, "Months since job start (or start of in-work support)")
    ax.set_ylabel("Still supported (%)")
    ax.set_ylim(0, 100)
    ax.legend(frameon=False)
    _risk_table(ax, {"All": at_risk_counts(km, months)}, months)
    return save(fig, folder, "in_work_support")


def outcome_forest(rates: pd.DataFrame, folder: Path) -> list[Path]:
    """Outcome rate by group with Wilson CIs, one block per factor, the overall rate as a reference line."""
    overall = rates[rates["factor"] == "all"].iloc[0]
    groups = rates[rates["factor"] != "all"].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(6.5, 0.22 * len(groups) + 1.2))
    y = np.arange(len(groups))[::-1]
    ax.errorbar(groups["rate_pct"], y, xerr=[groups["rate_pct"] - groups["conf_low"], groups["conf_high"] - groups["rate_pct"]],
                fmt="o", color="#1b6ca8", ecolor="#1b6ca8", markersize=4, capsize=2)
    ax.axvline(overall["rate_pct"], color="grey", linestyle="--", linewidth=1,
               label=f"All: {overall['rate_pct']:.1f}%")
    ax.set_yticks(y)
    ax.set_yticklabels([f"{f.replace('_', ' ')}: {lvl} (n={'suppressed' if pd.isna(n) else int(n)})" for f, lvl, n in
                        zip(groups["factor"], groups["level"], groups["n"])], fontsize=7)
    ax.set_xlim(0, 100)
    ax.set_xlabel("Gained or retained employment, or education (%), Wilson 95% CI")
    ax.legend(frameon=False, loc="lower right")
    return save(fig, folder, "outcome_rates_by_group")


def access_comparison(composition: pd.DataFrame, folder: Path) -> list[Path]:
    """Representation ratios (IPS share / CMHT share) with CIs, by characteristic."""
    known = composition[composition["category"] != "Not known"].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(6.5, 0.22 * len(known) + 1.2))
    y = np.arange(len(known))[::-1]
    ratio = known["representation_ratio"].to_numpy(dtype=float)
    low, high = known["ratio_conf_low"].to_numpy(dtype=float), known["ratio_conf_high"].to_numpy(dtype=float)
    ax.errorbar(ratio, y, xerr=[ratio - low, high - ratio], fmt="s", color="#c0392b", markersize=4, capsize=2)
    ax.axvline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xscale("log")
    ticks = [t for t in (0.25, 0.5, 1, 2, 4, 8) if np.nanmin(low) / 1.5 <= t <= np.nanmax(high) * 1.5]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_yticks(y)
    ax.set_yticklabels([f"{c.replace('_', ' ')}: {cat} ({p:.1f}% vs {q:.1f}%)" for c, cat, p, q in
                        zip(known["characteristic"], known["category"], known["ips_pct"], known["cmht_pct"])], fontsize=7)
    ax.set_xlabel("Representation ratio, IPS share / CMHT share (log scale, 95% CI); 1 = proportionate")
    return save(fig, folder, "access_representation")


def funnel(sites: pd.DataFrame, pooled_pct: float, folder: Path) -> list[Path]:
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    n = np.linspace(max(10, sites["referrals"].min() * 0.5), sites["referrals"].max() * 1.2, 200)
    p0 = pooled_pct / 100
    for z, style, label in ((1.959964, "--", "95% limits"), (3.090232, ":", "99.8% limits")):
        half = z * np.sqrt(p0 * (1 - p0) / n)
        ax.plot(n, 100 * (p0 - half), style, color="grey", label=label)
        ax.plot(n, 100 * (p0 + half), style, color="grey")
    ax.axhline(pooled_pct, color="black", linewidth=1, label=f"Pooled rate {pooled_pct:.1f}%")
    ax.scatter(sites["referrals"], sites["rate_pct"], color="#1b6ca8", zorder=3)
    for _, s in sites.iterrows():
        ax.annotate(s["site"], (s["referrals"], s["rate_pct"]), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel("Referrals")
    ax.set_ylabel("Job rate (%)")
    ax.legend(frameon=False, fontsize=7)
    return save(fig, folder, "sites_funnel")

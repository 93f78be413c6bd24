"""Publication figures drawn from the results tables (never from person-level rows), byte-reproducible."""
from __future__ import annotations

from pathlib import Path

import matplotlib
from matplotlib import font_manager
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.ticker import NullFormatter
from matplotlib.transforms import ScaledTranslation
from PIL import Image
from scipy.special import expit

from analysis.stats.survival import at_risk_on_curve
from analysis.book.labels import factor as factor_label
from analysis.core.results import MONTH_DAYS
from analysis.questions.sites import Z_LIMITS

# Only the fonts matplotlib ships: a machine's own DejaVu or Liberation fonts (Debian's chromium brings
# them) can otherwise win the font lookup, depending on the order the font cache was built in, and move
# glyphs by a pixel, so the same results would give different PNG bytes on another machine.
BUNDLED_FONTS = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
font_manager.fontManager.ttflist = [font for font in font_manager.fontManager.ttflist
                                    if Path(font.fname).parent == BUNDLED_FONTS]
font_manager.fontManager._findfont_cached.cache_clear()
matplotlib.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
                            "font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans"]})
TICK_MONTHS = np.arange(0, 25, 3)
WIDTH = 6.5  # inches, every figure
RISK_ROW = 0.16  # inches between the lines of a numbers-at-risk table
RISK_TOP = 0.6  # inches from the bottom of the axes to the heading of the numbers-at-risk table
RISK_GAP = 0.16  # inches between the left edge of the axes and the row labels (24 px: whole pixels, see figure())
DPI = 150
_MEASURE = RendererAgg(1, 1, DPI)  # measures text as it will be drawn, without drawing anything


def text_width(labels, size: float = 7, weight: str = "normal") -> float:
    """Width in inches of the widest label when drawn."""
    prop = FontProperties(size=size, weight=weight)
    return max((_MEASURE.get_text_width_height_descent(str(t), prop, ismath=False)[0] for t in labels), default=0) / DPI


def figure(height: float, left: float, bottom: float = 0.5, top: float = 0.15, right: float = 0.15):
    """A figure of one axes with fixed margins in inches.

    The margins are worked out from the labels, rather than by bbox_inches="tight", which lays the whole figure
    out twice and made drawing the figures the slowest step of a small run.
    """
    # Every edge on a whole pixel: an edge at a half pixel (0.15 in at 150 dpi is 22.5 px) is snapped one way
    # or the other by the last bit of the transform's arithmetic, which differs between CPUs.
    pixels = lambda inches: round(inches * DPI)  # noqa: E731
    width, height_px = pixels(WIDTH), pixels(height)
    fig = Figure(figsize=(width / DPI, height_px / DPI), dpi=DPI)
    ax = fig.subplots()
    fig.subplots_adjust(left=pixels(left) / width, right=1 - pixels(right) / width,
                        bottom=pixels(bottom) / height_px, top=1 - pixels(top) / height_px)
    return fig, ax


def save(fig: Figure, folder: Path, name: str) -> list[Path]:
    """PNG at 150 dpi in 256 colours (a quarter of the size of full colour, and quicker to write), without a
    software stamp or date, so the same results give the same bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    image = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    image.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE).save(path, dpi=(DPI, DPI))
    return [path]


def _steps(table: pd.DataFrame, column: str, start: float):
    x = np.concatenate([[0.0], table["time"].to_numpy(dtype=float) / MONTH_DAYS])
    y = np.concatenate([[start], table[column].to_numpy(dtype=float)])
    return x, y


def _risk_table(ax, rows: dict[str, list[str]], months) -> None:
    """Numbers at risk under the x axis, one line per curve: one text per column (drawing hundreds of small
    texts was most of a figure's cost), lines spaced RISK_ROW apart, at fixed distances in inches."""
    fig = ax.figure
    below = lambda inches, left=0.0: ScaledTranslation(-left, -inches, fig.dpi_scale_trans)  # noqa: E731
    ax.text(0, 0, "Number at risk", transform=ax.transAxes + below(RISK_TOP, RISK_GAP), ha="right", va="center",
            fontsize=7, fontweight="bold")
    top = RISK_TOP + RISK_ROW / 2  # the first line's top edge
    column = dict(fontsize=7, va="top", linespacing=RISK_LINESPACING)
    ax.text(0, 0, "\n".join(rows), transform=ax.transAxes + below(top, RISK_GAP), ha="right", **column)
    for i, m in enumerate(months):
        ax.text(m, 0, "\n".join(counts[i] for counts in rows.values()),
                transform=ax.get_xaxis_transform() + below(top), ha="center", **column)


def _line_height(size: float) -> float:
    """Inches between the lines of a text at linespacing 1 (the font's ascent + descent), measured once."""
    fig = Figure(dpi=DPI)
    one, two = (fig.text(0, 0, text, fontsize=size, linespacing=1).get_window_extent(_MEASURE).height
                for text in ("0", "0\n0"))
    return (two - one) / DPI


RISK_LINESPACING = RISK_ROW / _line_height(7)  # makes the lines of a numbers-at-risk table RISK_ROW apart


def risk_table_figure(labels: list[str], extra_height: float = 0.0):
    """A survival-curve figure with room below for a numbers-at-risk table with one line per label."""
    bottom = RISK_TOP + RISK_ROW * (len(labels) + 0.9)
    left = max(0.65, RISK_GAP + 0.05 + max(text_width(labels), text_width(["Number at risk"], weight="bold")))
    return figure(3.0 + extra_height + bottom, left=left, bottom=bottom, top=0.3, right=0.3)


def _month_axis(ax, max_month: float, label: str) -> list[int]:
    months = [int(m) for m in TICK_MONTHS if m <= max_month + 1e-9]
    ax.set_xticks(months)
    ax.set_xlim(0, months[-1] if months and months[-1] > 0 else 1)  # a curve of one month is still drawn
    ax.set_xlabel(label)
    return months


def at_risk_counts(km: pd.DataFrame, months) -> list[str]:
    """People at risk at each month: n_risk of the first row at or after it ('-' where suppressed)."""
    counts = at_risk_on_curve(km, np.asarray(months, dtype=float) * MONTH_DAYS)
    return ["-" if np.isnan(c) else str(int(c)) for c in counts]


def _curve_with_band(ax, table: pd.DataFrame, column: str, start: float, label: str, band_label: str) -> float:
    """A step curve with its 95% CI as a band; returns the last time (months) drawn."""
    x, y = _steps(table, column, start)
    ax.step(x, 100 * y, where="post", color="#1b6ca8", label=label)
    if {"conf_low", "conf_high"} <= set(table.columns):  # a curve redrawn from rounded counts has no band
        _, low = _steps(table, "conf_low", start)
        _, high = _steps(table, "conf_high", start)
        ax.fill_between(x, 100 * low, 100 * high, step="post", color="#1b6ca8", alpha=0.15, label=band_label)
    return float(x.max())


def cumulative_incidence(cif: pd.DataFrame, competing: pd.DataFrame, km: pd.DataFrame, folder: Path) -> list[Path]:
    fig, ax = risk_table_figure(["All"])
    last = _curve_with_band(ax, cif, "cif", 0.0, "Employment (Aalen-Johansen)", "95% CI")
    x2, y2 = _steps(competing, "cif", 0.0)
    ax.step(x2, 100 * y2, where="post", color="#c0392b", label="Education or discharge without a job (competing)")
    x3, y3 = _steps(km, "survival", 1.0)
    ax.step(x3, 100 * (1 - y3), where="post", color="grey", linestyle="--",
            label="1 - Kaplan-Meier (treats the competing events as censoring)")
    months = _month_axis(ax, last, "Months since first IPS contact")
    ax.set_ylabel("Cumulative incidence (%)")
    ax.set_ylim(0, 100)
    ax.legend(frameon=False, loc="upper left")
    _risk_table(ax, {"All": at_risk_counts(km, months)}, months)
    return save(fig, folder, "employment_cumulative_incidence")


def curves_by_group(curves: dict[str, pd.DataFrame], factor: str, name: str, ylabel: str, xlabel: str,
                    folder: Path) -> list[Path]:
    """Curves by group: cumulative incidence (tables with a `cif` column, rising from 0) or Kaplan-Meier
    survival (falling from 1)."""
    fig, ax = risk_table_figure(list(curves), extra_height=0.15 * len(curves))
    max_month, rising = 0.0, False
    for label, curve in curves.items():
        rising = "cif" in curve
        x, y = _steps(curve, "cif", 0.0) if rising else _steps(curve, "survival", 1.0)
        first = curve["n_risk"].iloc[0]
        ax.step(x, 100 * y, where="post", label=f"{label} (n={'suppressed' if pd.isna(first) else int(first)})")
        max_month = max(max_month, x.max())
    months = _month_axis(ax, max_month, xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 100)
    ax.set_title(f"By {factor.replace('_', ' ')}", loc="left")
    if curves:
        ax.legend(frameon=False, fontsize=7, loc="upper left" if rising else "upper right")
    _risk_table(ax, {label: at_risk_counts(curve, months) for label, curve in curves.items()}, months)
    return save(fig, folder, name)


def support_curve(km: pd.DataFrame, folder: Path) -> list[Path]:
    fig, ax = risk_table_figure(["All"])
    last = _curve_with_band(ax, km, "survival", 1.0, "Still receiving in-work support (Kaplan-Meier)",
                            "95% CI (log-log)")
    ax.axvline(12, color="grey", linestyle=":", linewidth=1)
    months = _month_axis(ax, last, "Months since job start (or start of in-work support)")
    ax.set_ylabel("Still supported (%)")
    ax.set_ylim(0, 100)
    ax.legend(frameon=False)
    _risk_table(ax, {"All": at_risk_counts(km, months)}, months)
    return save(fig, folder, "in_work_support")


def error_bars(centre, low, high) -> list[np.ndarray]:
    """Lengths below and above each point, never negative (a limit equal to its estimate can differ from it in
    the last bit, and matplotlib refuses a negative bar); a limit that could not be estimated has no bar."""
    centre, low, high = (np.asarray(v, dtype=float) for v in (centre, low, high))
    with np.errstate(invalid="ignore"):
        return [np.fmax(centre - low, 0), np.fmax(high - centre, 0)]


def outcome_forest(rates: pd.DataFrame, folder: Path) -> list[Path]:
    """Outcome rate by group with Wilson CIs, one block per factor, the overall rate as a reference line."""
    overall = rates[rates["factor"] == "all"].iloc[0]
    groups = rates[rates["factor"] != "all"].reset_index(drop=True)
    labels = [f"{f.replace('_', ' ')}: {lvl} (n={'suppressed' if pd.isna(n) else int(n)})" for f, lvl, n in
              zip(groups["factor"], groups["level"], groups["n"])]
    fig, ax = figure(0.22 * len(groups) + 1.05, left=text_width(labels) + 0.15, bottom=0.65)
    y = np.arange(len(groups))[::-1]
    ax.errorbar(groups["rate_pct"], y, xerr=error_bars(groups["rate_pct"], groups["conf_low"], groups["conf_high"]),
                fmt="o", color="#1b6ca8", ecolor="#1b6ca8", markersize=4, capsize=2)
    if pd.notna(overall["rate_pct"]):  # a hidden overall rate draws no line and no "All: nan%"
        ax.axvline(overall["rate_pct"], color="grey", linestyle="--", linewidth=1, label=f"All: {overall['rate_pct']:.1f}%")
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xlim(0, 100)
    ax.set_xlabel("Gained or retained employment, or education (%)\nWilson 95% CI")
    if pd.notna(overall["rate_pct"]):
        ax.legend(frameon=False, loc="lower right")
    return save(fig, folder, "outcome_rates_by_group")


def access_comparison(composition: pd.DataFrame, folder: Path) -> list[Path]:
    """Representation ratios (IPS share / CMHT share) with CIs, by characteristic."""
    known = composition[(composition["category"] != "Not known")
                        & composition["representation_ratio"].notna()].reset_index(drop=True)  # hidden: not drawn
    # The shares the ratio is made of: of the people with a known value (as the ratio's), not of all.
    labels = [f"{c.replace('_', ' ')}: {cat} ({p:.1f}% vs {q:.1f}%)" for c, cat, p, q in
              zip(known["characteristic"], known["category"], known["ips_known_pct"], known["cmht_known_pct"])]
    fig, ax = figure(0.22 * len(known) + 1.05, left=text_width(labels) + 0.15, bottom=0.65)
    y = np.arange(len(known))[::-1]
    ratio = known["representation_ratio"].to_numpy(dtype=float)
    low, high = known["ratio_conf_low"].to_numpy(dtype=float), known["ratio_conf_high"].to_numpy(dtype=float)
    ax.errorbar(ratio, y, xerr=error_bars(ratio, low, high), fmt="s", color="#c0392b", markersize=4, capsize=2)
    ax.axvline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xscale("log")
    ticks = [t for t in (0.25, 0.5, 1, 2, 4, 8) if np.nanmin(low) / 1.5 <= t <= np.nanmax(high) * 1.5]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xlabel("Representation ratio, IPS share / CMHT share of those with a known value\n(log scale, 95% CI); "
                  "1 = proportionate")
    return save(fig, folder, "access_representation")


def funnel(sites: pd.DataFrame, pooled_pct: float, folder: Path, name: str = "sites_funnel",
           overdispersed: tuple[float, float] | None = None, xlabel: str = "Referrals",
           ylabel: str = "Job rate (%)") -> list[Path]:
    """Rates against size with control limits around the pooled rate; with `overdispersed` = (random-effects
    rate in %, tau^2), also the limits that allow for real differences, logit(m) +/- z sqrt(1/(n m (1-m)) + tau^2)."""
    fig, ax = figure(4.0, left=0.65, right=0.3)
    n = np.linspace(max(10, sites["referrals"].min() * 0.5), sites["referrals"].max() * 1.2, 200)
    p0 = pooled_pct / 100
    for (level, z), style in zip(Z_LIMITS.items(), ("--", ":")):
        label = f"{level}% limits"
        half = z * np.sqrt(p0 * (1 - p0) / n)
        ax.plot(n, 100 * (p0 - half), style, color="grey", label=label)
        ax.plot(n, 100 * (p0 + half), style, color="grey")
        if overdispersed is not None:
            m, tau2 = overdispersed[0] / 100, overdispersed[1]
            half = z * np.sqrt(1 / (n * m * (1 - m)) + tau2)
            centre = np.log(m / (1 - m))
            ax.plot(n, 100 * expit(centre - half), style, color="#c0392b", label=f"{level}% limits, overdispersed")
            ax.plot(n, 100 * expit(centre + half), style, color="#c0392b")
    ax.axhline(pooled_pct, color="black", linewidth=1, label=f"Pooled rate {pooled_pct:.1f}%")
    ax.scatter(sites["referrals"], sites["rate_pct"], color="#1b6ca8", zorder=3)
    for _, s in sites.iterrows():
        ax.annotate(s["site"], (s["referrals"], s["rate_pct"]), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False, fontsize=7)
    return save(fig, folder, name)


def _forest(labels: list[str], centre, low, high, pi_low, pi_high, pooled, xlabel: str, folder: Path, name: str,
            log_scale: bool = False, reference: float | None = None) -> list[Path]:
    """One line per row, top down: a service as a square with its 95% CI, a pooled estimate as a diamond
    spanning its CI with a thin line for its 95% prediction interval."""
    fig, ax = figure(0.24 * len(labels) + 1.05, left=text_width(labels) + 0.15, bottom=0.65)
    y = np.arange(len(labels))[::-1]
    centre, low, high, pi_low, pi_high = (np.asarray(v, dtype=float) for v in (centre, low, high, pi_low, pi_high))
    pooled = np.asarray(pooled, dtype=bool)
    ax.errorbar(centre[~pooled], y[~pooled], xerr=error_bars(centre[~pooled], low[~pooled], high[~pooled]),
                fmt="s", color="#1b6ca8", markersize=4, capsize=2)
    for i in np.flatnonzero(pooled):
        if np.isfinite(pi_low[i]):
            ax.plot([pi_low[i], pi_high[i]], [y[i], y[i]], color="#c0392b", linewidth=1)
        ax.fill([low[i], centre[i], high[i], centre[i]], [y[i], y[i] + 0.3, y[i], y[i] - 0.3], color="black")
    if reference is not None:
        ax.axvline(reference, color="grey", linestyle="--", linewidth=1)
    if log_scale:  # the axis spans the CIs; a prediction interval from three services may run off it
        ax.set_xscale("log")
        lowest, highest = min(np.nanmin(low), 1.0) / 1.5, max(np.nanmax(high), 1.0) * 1.5
        ax.set_xlim(lowest, highest)
        ticks = [t for t in (0.125, 0.25, 0.5, 1, 2, 4, 8) if lowest <= t <= highest]
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xlabel(xlabel)
    return save(fig, folder, name)


PREDICTION_NOTE = "diamond: pooled 95% CI; red: 95% prediction interval"


def pooled_forest(estimates: pd.DataFrame, pooled, folder: Path) -> list[Path]:
    """A measure's forest plot: each service's value and 95% CI (those left out marked so), then the pooled row."""
    rows = estimates[(estimates["measure"] == pooled.measure) & (estimates["factor"] == "all")]
    labels = [s if entered else f"{s} (left out)" for s, entered in zip(rows["service"], rows["entered"])]
    labels.append(f"Pooled ({pooled.k} services)")
    values = [np.append(rows[c].to_numpy(dtype=float), getattr(pooled, p)) for c, p in
              (("value", "estimate"), ("conf_low", "conf_low"), ("conf_high", "conf_high"))]
    blank = np.full(len(rows) + 1, np.nan)
    pi_low, pi_high = blank.copy(), blank.copy()
    pi_low[-1], pi_high[-1] = pooled.pi_low, pooled.pi_high
    return _forest(labels, *values, pi_low, pi_high, [False] * len(rows) + [True],
                   f"{pooled.label}\n{PREDICTION_NOTE}", folder, f"pooled_forest_{pooled.measure}")


def _first_upper(text: str) -> str:
    return text[:1].upper() + text[1:]


def pooled_ratio_forest(pooled: pd.DataFrame, measure: str, label: str, folder: Path) -> list[Path]:
    """A ratio's pooled estimate by group, one diamond per group against its reference group."""
    rows = pooled[(pooled["measure"] == measure) & (pooled["k"] >= 2)]
    labels = [f"{factor_label(f)}: {lvl} vs {ref} ({k} services)" for f, lvl, ref, k in
              zip(rows["factor"], rows["level"], rows["reference"], rows["k"])]
    return _forest(labels, rows["estimate"], rows["conf_low"], rows["conf_high"], rows["pi_low"], rows["pi_high"],
                   [True] * len(rows), _first_upper(label.split(": ", 1)[-1]) + f" (log scale)\n{PREDICTION_NOTE}", folder, f"pooled_forest_{measure}",
                   log_scale=True, reference=1.0)


FIDELITY_BANDS = ((74, 100, "#f6e7c1", "fair (74-99)"), (100, 125, "#d5ecd4", "good (100+)"))


def fidelity_plot(services: pd.DataFrame, fit, folder: Path) -> list[Path]:
    """Job rate against the IPS-25 total (or band), the meta-regression line, and the IPS-25 bands shaded."""
    fig, ax = figure(3.6, left=0.65, right=0.3)
    used = services[services["estimate"].notna()]
    by_score = fit["covariate"] == "ips25_total / 10"
    if by_score:
        x = used["ips25_total"].to_numpy(dtype=float)
        for low, high, colour, band in FIDELITY_BANDS:
            ax.axvspan(low, high, color=colour, label=band, zorder=0)
        grid = np.linspace(min(x.min(), 74) - 5, 125, 100)
        ax.plot(grid, 100 * expit(fit["intercept_logit"] + fit["slope_logit"] * grid / 10), color="black",
                linewidth=1, label="Meta-regression (random effects)")
        ax.set_xlim(grid[0], 125)
        ax.set_xlabel("IPS-25 fidelity total (25-125)")
    else:
        x = (used["band"] == "good").to_numpy(dtype=float)
        ax.set_xticks([0, 1], ["fair or below (under 100)", "good (100+)"])
        ax.set_xlim(-0.5, 1.5)
        ax.set_xlabel("IPS-25 fidelity band")
    weight = 1 / (used["se"].to_numpy(dtype=float) ** 2 + float(fit["tau2_residual"]))
    ax.scatter(x, used["job_rate_pct"], s=400 * weight / weight.max(), color="#1b6ca8", alpha=0.8, zorder=3)
    for xi, (_, s) in zip(x, used.iterrows()):
        ax.annotate(s["service"], (xi, s["job_rate_pct"]), textcoords="offset points", xytext=(6, 4), fontsize=7)
    ax.set_ylabel("Gained a job (%)")
    if by_score:
        ax.legend(fontsize=7, loc="lower right", facecolor="white", edgecolor="none", framealpha=1)
    return save(fig, folder, "pooled_fidelity")

def capacity_census(census: pd.DataFrame, folder: Path) -> list[Path]:
    """The open case-load on the first day of each month by phase (stacked, as published: rounded counts,
    a blank month drawn as a gap), with the IPS-25 ceiling of 20 per whole-time specialist when the staffing
    is known."""
    fig, ax = figure(3.0, left=0.65, bottom=0.75)
    x = np.arange(len(census))
    bottom = np.zeros(len(census))
    for column, label, colour in (("seeking", "Seeking work", "#1b6ca8"), ("in_work", "In work (in-work support)", "#e08a1e"),
                                  ("education", "In education", "#5a9e4b")):
        values = census[column].astype(float).to_numpy()
        ax.bar(x, np.nan_to_num(values), bottom=bottom, color=colour, width=0.85, label=label)
        bottom = bottom + np.nan_to_num(values)
    if census["specialists_wte"].notna().any():
        ceiling = census["specialists_wte"].astype(float) * census["ips25_standard"].astype(float)
        ax.step(x, ceiling, where="mid", color="black", linestyle="--", linewidth=1,
                label="IPS-25 ceiling: 20 per whole-time specialist")
    ticks = x[::3]
    ax.set_xticks(ticks)
    ax.set_xticklabels(census["month"].iloc[::3], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("People on the case-load\n(first day of the month)")
    ax.legend(frameon=False, fontsize=7, loc="upper right")
    return save(fig, folder, "capacity_census")

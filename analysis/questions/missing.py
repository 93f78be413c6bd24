"""Missing data: complete cases beside 'Not known' as its own level beside multiple imputation, for the
adjusted logistic model of a positive outcome and the adjusted Cox models of time to employment and of
discharge from in-work support.

* **Complete case** is the paper's analysis: people with 'Not known' in any factor are left out.
* **'Not known' as its own level**: the same model with 'Not known' a level of each factor (when it has at
  least 10 people and events, the package's rule for any group); it keeps everyone but assumes the unknown
  are one group, which is biased in general (Vach & Blettner 1991) and shown as what a service might do.
* **Multiple imputation by chained equations** (van Buuren & Groothuis-Oudshoorn 2011): each factor with
  'Not known' values (ethnicity, gender, diagnosis; age is never missing) is imputed in turn from a
  multinomial logistic model on the other three factors (their current imputed values), age in years
  (linear), the site when the extract has one, and every analysis's outcome, so one set of imputations
  serves the three models: the positive outcome; for the Cox models the event indicator and the
  Nelson-Aalen cumulative hazard at the person's time (White & Royston 2009), with an indicator of being
  in that analysis at all (people already in work are not seeking a job; only people in work had in-work
  support). Each imputation is "proper": the multinomial coefficients are drawn
  from their approximate posterior, normal about the estimate with its covariance (as mice's logreg does),
  then each missing value from its predicted probabilities. ITERATIONS sweeps, IMPUTATIONS imputed data sets,
  one seeded generator (SEED), so a run is reproducible to the byte. The analysis model is the adjusted
  model with the complete-case levels and reference groups (so the imputations pool the same terms); people
  imputed into a group too small to be compared are left out as in the complete-case model. Estimates are
  pooled by Rubin's rules: the mean of the log ratios, total variance W + (1 + 1/M) B, degrees of freedom
  of Barnard & Rubin (1999) with the complete-data df n - k, t-based 95% CIs and p; the fraction of
  missing information as mice reports it. The pooling is checked against R's mice::pool.scalar.

Long because the method is stated whole here, and the imputation, the counting of its copies and the two
approaches beside it share one set of codes and levels: split, each would rebuild them.

Missing at random (given the variables in the imputation model) is an assumption the data cannot test:
the imputed analysis is a sensitivity analysis, not the truth about the people whose ethnicity is unknown.

The multinomial model (analysis/stats/multinomial.py) is fitted on people (with more than FIT_MAX people
knowing the factor, on a seeded random sample of FIT_MAX of them: the age and the cumulative hazards make
nearly every person's predictors distinct, so counts do not shrink the fit, and 300 fits on a million
people took hours), at the posterior mode under a normal prior with SD 2.5 on each coefficient (RIDGE; the
scale of Gelman et al. 2008's weakly informative prior), so that a group of three people cannot separate and
stall the sweeps.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
from scipy import stats

from analysis.core.arrays import added_counts, counted_keys, distinct, pattern_digits, pattern_key
from analysis.core.contract import FACTORS, NOT_KNOWN
from analysis.questions.model_frames import (ANALYSES, COLLAPSE_FROM, adjusted_levels, counted_once, fit_adjusted,
                                            fit_cells)
from analysis.stats.modelling import WEIGHT, is_collapsed, model_levels, usable_rows
from analysis.stats.multinomial import drawn_classes, multinomial_fit

IMPUTATIONS, ITERATIONS, SEED = 20, 5, 20251  # mice's default sweeps (maxit = 5)
FIT_MAX = 10_000  # people an imputation model is fitted on; above it a seeded sample (fitted_on)
RIDGE = 1 / 2.5 ** 2  # a normal prior with SD 2.5 on each coefficient (Gelman et al. 2008's scale)
OWN_LEVEL = "Not known (as a level)"
APPROACHES = ("complete case", "'Not known' as its own level", "multiple imputation")
METHODS = {
    "complete case": "Complete cases (the paper's adjusted model): people with 'Not known' in any factor left out",
    "'Not known' as its own level": "'Not known' kept as a level of each factor (where it has 10 or more people and "
                                    "events); Wald 95% CI",
    "multiple imputation": (f"Multiple imputation by chained equations, {IMPUTATIONS} imputations x {ITERATIONS} "
                            "sweeps (seeded): each factor with 'Not known' imputed by multinomial logistic "
                            "regression on the other factors, age, site and every analysis's outcome (the positive "
                            "outcome; job start and discharge with their Nelson-Aalen cumulative hazards; White & "
                            "Royston 2009), coefficients drawn from their approximate posterior (normal prior SD 2.5); "
                            "pooled by Rubin's rules, Barnard-Rubin df, t-based 95% CI"),
}


# --- the imputation model's design matrices --------------------------------------------------------------

def _predictors(target: str, categories: dict[str, list[str]], extra: np.ndarray) -> np.ndarray:
    """The imputation model's design matrix for the people whose auxiliary columns are `extra` (a row each):
    an intercept, room for the other factors' dummies (filled by _fill, as their imputed values change each
    sweep), then `extra`. Built once for the rows a fit or a draw uses, never for everyone."""
    dummies = sum(max(len(categories[f]) - 1, 0) for f in categories if f != target)  # a factor with no known group: none
    matrix = np.empty((len(extra), 1 + dummies + extra.shape[1]))
    matrix[:, 0] = 1.0
    matrix[:, 1 + dummies:] = extra
    return matrix


def _fill(matrix: np.ndarray, rows: np.ndarray, target: str, current: dict[str, np.ndarray],
          categories: dict[str, list[str]], only: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Put the other factors' current values (as dummies, first group the reference) into the matrix; with
    `only` (factor: positions in `rows`), just at those positions: the people whose value of that factor is
    imputed, the only values that change between sweeps (rewriting every row was a tenth of a large run's
    imputation time)."""
    column = 1
    for factor, values in current.items():
        if factor == target:
            continue
        at = slice(None) if only is None else only[factor]
        mine = values[rows[at]]
        for code in range(1, len(categories[factor])):
            matrix[at, column] = mine == code
            column += 1
    return matrix


def fitted_on(observed: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The people an imputation model is fitted on: everyone with the factor known, or, when there are more
    than FIT_MAX of them, a seeded random sample of FIT_MAX (in the extract's order). The draws stay proper:
    the coefficients come from the posterior given the sample, so the imputations carry the sample's larger
    uncertainty into Rubin's between-imputation variance (less efficient, not biased under MAR)."""
    rows = np.flatnonzero(observed)
    return rows if len(rows) <= FIT_MAX else np.sort(rng.choice(rows, FIT_MAX, replace=False))


def imputed_factors(people: pd.DataFrame) -> list[str]:
    """The factors an imputation model is fitted for: 'Not known' somewhere and two or more known groups
    (with one known group everyone unknown is put in it; with none the factor is left as it is)."""
    categories = categories_of(people)
    return [f for f in FACTORS if (people[f] == NOT_KNOWN).any() and len(categories[f]) >= 2]


def sample_note(people: pd.DataFrame) -> str:
    """What the method text adds when an imputation model is fitted on a sample (nothing otherwise)."""
    known = {f: int((people[f] != NOT_KNOWN).sum()) for f in imputed_factors(people)}
    sampled = [f"{f} ({n:,} known)" for f, n in known.items() if n > FIT_MAX]
    if not sampled:
        return ""
    return (f"; each imputation model fitted on a seeded random sample of {FIT_MAX:,} of the people with the factor "
            f"known ({', '.join(sampled)}): proper draws from the posterior given the sample (the fits at this size "
            f"would take hours on people)")


def nelson_aalen(days: np.ndarray, event: np.ndarray) -> np.ndarray:
    """The Nelson-Aalen cumulative hazard at each person's own time (ties: all events at a time counted)."""
    times, inverse = distinct(days)
    deaths = np.bincount(inverse, weights=event.astype(float))
    leaving = np.bincount(inverse)
    at_risk = leaving[::-1].cumsum()[::-1]
    return np.cumsum(deaths / at_risk)[inverse]


def auxiliary(frames: dict[str, pd.DataFrame], rows: np.ndarray) -> np.ndarray:
    """The imputation model's other predictors for the people at `rows` (positions in the outcome frame, a
    row each): age, site, and every analysis's outcome: the positive outcome; seeking work, a job start and
    the Nelson-Aalen cumulative hazard of a job at the person's time; in work, discharge from in-work support
    and its cumulative hazard (0 for people outside an analysis, with its indicator). Only the people a fit
    or a draw uses: for everyone, at ten million people, this matrix was the run's peak memory."""
    people = frames["outcome"]
    sites = sorted(people["site"].unique()) if people["site"].nunique() > 1 else []
    analyses = ("employment", "in_work")  # three columns each, after age and the positive outcome
    first_site = 2 + 3 * len(analyses)
    extra = np.zeros((len(rows), first_site + max(len(sites) - 1, 0)))  # filled column by column, never stacked
    extra[:, 0] = people["age"].to_numpy(float)[rows] / 10
    extra[:, 1] = people["event"].to_numpy(float)[rows]
    position = np.full(len(people), -1)
    position[rows] = np.arange(len(rows))
    for column, name in zip(range(2, first_site, 3), analyses):
        frame = frames.get(name)
        if frame is not None and len(frame):  # inside the analysis, its event and cumulative hazard (else 0)
            where = position[rows_of(people["person_id"], frame["person_id"])]
            inside = where >= 0
            extra[where[inside], column] = 1
            extra[where[inside], column + 1] = frame["event"].to_numpy(float)[inside]
            extra[where[inside], column + 2] = nelson_aalen(frame["days"].to_numpy(), frame["event"].to_numpy())[inside]
    site = people["site"].to_numpy()[rows]
    for j, s in enumerate(sites[1:]):
        extra[:, first_site + j] = site == s
    return extra


def rows_of(person_ids, wanted) -> np.ndarray:
    """Each wanted person's row among `person_ids` (-1 if absent), as pd.Index.get_indexer finds it. The
    frames number the people 0, 1, 2, ... in order (model_frames.frames), so a person's id is their row:
    hashing ten million ids to find that out was a tenth of the missing-data step."""
    ids, wanted = np.asarray(person_ids), np.asarray(wanted)
    if ids.dtype.kind in "iu" and (ids == np.arange(len(ids))).all():
        return np.where((wanted >= 0) & (wanted < len(ids)), wanted, -1).astype(np.intp, copy=False)
    return pd.Index(ids).get_indexer(wanted)


def categories_of(people: pd.DataFrame) -> dict[str, list[str]]:
    """Each factor's known groups, sorted: an imputed value is the position of its group in this list."""
    return {f: sorted(v for v in people[f].unique() if v != NOT_KNOWN) for f in FACTORS}


class ImputedCopy(Mapping):
    """One imputed copy of the factors' codes, held as the imputed values only: copy[f] is the whole column
    (the known codes with this copy's imputed values put in), made when asked for. Twenty whole copies of
    three factors were 600 MB of a ten-million-person run's peak; the imputed values alone are a few percent
    of that."""

    def __init__(self, codes: dict[str, np.ndarray], rows: dict[str, np.ndarray], values: dict[str, np.ndarray],
                 single: list[str]):
        self._codes, self._rows, self._values, self._single = codes, rows, values, single

    def __getitem__(self, factor: str) -> np.ndarray:
        if factor in self._values:
            column = self._codes[factor].copy()
            column[self._rows[factor]] = self._values[factor]
            return column
        if factor in self._single:  # one known group: everyone is in it
            return np.zeros_like(self._codes[factor])
        return self._codes[factor]

    def __iter__(self):
        return iter(self._codes)

    def __len__(self) -> int:
        return len(self._codes)


def impute(people: pd.DataFrame, extra: Callable[[np.ndarray], np.ndarray], rng: np.random.Generator,
           imputations: int = IMPUTATIONS, iterations: int = ITERATIONS) -> list[ImputedCopy]:
    """`imputations` imputed copies of people's factors with every 'Not known' imputed by chained equations
    on the other factors and the columns `extra(rows)` gives for the people at rows (auxiliary): per copy,
    each factor's codes (positions in categories_of(people); -1 'Not known', left only in a factor with no
    known group), one per person, as an ImputedCopy.
    Codes, not text: twenty text copies of a million people were most of a large run's memory."""
    frame = people
    categories = categories_of(frame)
    incomplete = imputed_factors(frame)
    single = [f for f in FACTORS if (frame[f] == NOT_KNOWN).any() and len(categories[f]) == 1]
    # Codes as small integers (at most 5 known groups; -1 'Not known'): an imputation copies only the factors
    # it changes, and shares the others with every other imputation.
    codes = {f: pd.Categorical(frame[f], categories=categories[f]).codes.astype(
        np.int8 if len(categories[f]) < 127 else np.int32) for f in FACTORS}
    missing = {f: codes[f] < 0 for f in FACTORS}
    out = []
    starts: dict[str, np.ndarray] = {}  # each model's last estimate: the next sweep's Newton starts there
    sample = np.random.default_rng([SEED, 1])  # its own stream: the imputations' draws are the same with or without
    fit_rows = {f: fitted_on(~missing[f], sample) for f in incomplete}
    draw_rows = {f: np.flatnonzero(missing[f]) for f in incomplete}
    observed = {f: codes[f][~missing[f]] for f in incomplete}
    # Each model's design matrices, filled once; a sweep rewrites only the rows whose other factors are imputed.
    used = distinct(np.concatenate([np.empty(0, dtype=np.int64), *fit_rows.values(), *draw_rows.values()]))[0]
    columns = extra(used)
    at = lambda rows: columns[np.searchsorted(used, rows)]  # noqa: E731
    fit_x = {f: _fill(_predictors(f, categories, at(fit_rows[f])), fit_rows[f], f, codes, categories)
             for f in incomplete}
    draw_x = {f: _fill(_predictors(f, categories, at(draw_rows[f])), draw_rows[f], f, codes, categories)
              for f in incomplete}
    del columns
    imputed_in = lambda rows: {g: np.flatnonzero(missing[g][rows]) for g in FACTORS}  # noqa: E731
    fit_changing = {f: imputed_in(fit_rows[f]) for f in incomplete}
    draw_changing = {f: imputed_in(draw_rows[f]) for f in incomplete}
    for _ in range(imputations):
        current = {f: codes[f].copy() if f in incomplete else codes[f] for f in FACTORS}
        for f in incomplete:  # start: draws from the observed distribution
            current[f][draw_rows[f]] = rng.choice(observed[f], size=len(draw_rows[f]))
        for _ in range(iterations):
            for f in incomplete:
                keep = fit_rows[f]
                xs = _fill(fit_x[f], keep, f, current, categories, fit_changing[f])
                classes = len(categories[f])
                y, weight = current[f][keep], np.ones(len(keep))
                beta, cov = multinomial_fit(y, xs, weight, classes, ridge=RIDGE, start=starts.get(f))
                starts[f] = beta
                drawn = rng.multivariate_normal(beta.T.ravel(), (cov + cov.T) / 2, method="cholesky")
                drawn = drawn.reshape(beta.shape[::-1]).T
                xm = _fill(draw_x[f], draw_rows[f], f, current, categories, draw_changing[f])
                current[f][draw_rows[f]] = drawn_classes(xm @ drawn, rng.random(len(xm)))
        out.append(ImputedCopy(codes, draw_rows, {f: current[f][draw_rows[f]] for f in incomplete}, single))
    return out


def _kept(n: int, codes: dict[str, np.ndarray], categories: dict[str, list[str]], levels: dict[str, list[str]]
          ) -> np.ndarray:
    """Which of the n people (codes: theirs) have every factor of the model at one of its `levels`."""
    keep = np.ones(n, dtype=bool)
    for f, wanted in levels.items():
        allowed = np.zeros(len(categories[f]) + 1, dtype=bool)  # position 0: 'Not known' (code -1)
        allowed[[categories[f].index(level) + 1 for level in wanted]] = True
        keep &= allowed[codes[f] + 1]
    return keep


def imputed_cells(times: tuple[np.ndarray, np.ndarray] | None, event: np.ndarray, codes: dict[str, np.ndarray],
                  categories: dict[str, list[str]], levels: dict[str, list[str]]) -> pd.DataFrame:
    """The rows of one imputed data set that enter the model (every factor at one of its `levels`), as
    model_frames.fit_adjusted counts them: one row per person below COLLAPSE_FROM, else one per distinct
    (time,) pattern in the order its groupby gives (by time, then each factor's group in sorted order, which
    is the codes' order). From the codes, without building the imputed text columns for everyone; `times`
    is (distinct days, each person's position among them), found once for all the imputations."""
    rows = np.flatnonzero(_kept(len(event), codes, categories, levels))
    if len(rows) < COLLAPSE_FROM:
        cells = {"days": times[0][times[1][rows]]} if times is not None else {}
        cells.update({f: np.array(categories[f], dtype=object)[codes[f][rows]] for f in levels})
        return pd.DataFrame({**cells, "size": np.ones(len(rows), dtype=np.int64), "sum": event[rows]})
    sizes = _pattern_sizes(times, categories, levels)
    counted = counted_keys(_keys(times, rows, {f: codes[f][rows] for f in levels}, sizes), int(np.prod(sizes)),
                           event[rows].astype(float))
    return _pattern_cells(times, counted, sizes, categories, levels)


def imputed_cells_each(times: tuple[np.ndarray, np.ndarray] | None, event: np.ndarray, where: np.ndarray,
                       imputed: list[ImputedCopy], unknown: np.ndarray,
                       categories: dict[str, list[str]], levels: dict[str, list[str]]):
    """imputed_cells of each imputed copy in turn (the copies' codes at `where`, the analysis's people).
    `unknown`: the people with 'Not known' in a factor of the model. Everyone else has the same codes in every
    copy, so their patterns are counted once and each copy counts only its imputed people on top
    (added_counts: whole-number counts and events, so the cells are those of counting everyone, to the bit).
    Counting all the people twenty times was a fifth of a ten-million-person run's imputation step."""
    known_rows, imputed_rows = np.flatnonzero(~unknown), np.flatnonzero(unknown)
    known = {f: imputed[0][f][where[known_rows]] for f in levels}  # the same in every copy
    keep = _kept(len(known_rows), known, categories, levels)
    known_rows, known = known_rows[keep], {f: c[keep] for f, c in known.items()}
    sizes = _pattern_sizes(times, categories, levels)
    space, fixed = int(np.prod(sizes)), None
    imputed_at = where[imputed_rows]  # the imputed people's rows in the copies, found once for every copy
    for copy in imputed:
        codes = {f: copy[f][imputed_at] for f in levels}
        keep = _kept(len(imputed_rows), codes, categories, levels)
        rows = imputed_rows[keep]
        if len(known_rows) + len(rows) < COLLAPSE_FROM:  # one row per person, in the people's order
            yield imputed_cells(times, event, {f: copy[f][where] for f in levels}, categories, levels)
            continue
        if fixed is None:
            fixed = counted_keys(_keys(times, known_rows, known, sizes), space, event[known_rows].astype(float))
        mine = counted_keys(_keys(times, rows, {f: c[keep] for f, c in codes.items()}, sizes), space,
                            event[rows].astype(float))
        yield _pattern_cells(times, added_counts(fixed, mine), sizes, categories, levels)


def _pattern_sizes(times, categories, levels) -> list[int]:
    return [len(times[0]) if times is not None else 1] + [len(categories[f]) for f in levels]


def _keys(times, rows: np.ndarray, codes: dict[str, np.ndarray], sizes: list[int]) -> np.ndarray:
    """Each person's pattern: time first, then each factor's code (the codes' order is the groupby's)."""
    time_codes = times[1][rows] if times is not None else np.zeros(len(rows), np.int64)
    return pattern_key([time_codes] + list(codes.values()), sizes)


def _pattern_cells(times, counted, sizes, categories, levels) -> pd.DataFrame:
    patterns, size, events = counted
    digits = pattern_digits(patterns, sizes)
    cells = {"days": times[0][digits[0]]} if times is not None else {}
    cells.update({f: np.array(categories[f], dtype=object)[digit] for f, digit in zip(levels, digits[1:])})
    return pd.DataFrame({**cells, "size": size, "sum": events})


# --- Rubin's rules -------------------------------------------------------------------------------------------

def rubin(estimates: np.ndarray, variances: np.ndarray, df_complete: float) -> dict[str, np.ndarray]:
    """Pool M estimates (rows) of each parameter (columns) with their variances: mice::pool's rules
    (Rubin 1987; Barnard & Rubin 1999 degrees of freedom)."""
    q, u = np.atleast_2d(estimates), np.atleast_2d(variances)
    m = q.shape[0]
    qbar, ubar = q.mean(axis=0), u.mean(axis=0)
    b = q.var(axis=0, ddof=1)
    t = ubar + (1 + 1 / m) * b
    lam = (1 + 1 / m) * b / t
    with np.errstate(divide="ignore", invalid="ignore"):
        df_old = (m - 1) / lam ** 2
        df_obs = (df_complete + 1) / (df_complete + 3) * df_complete * (1 - lam)
        df = np.where(b > 0, df_old * df_obs / (df_old + df_obs), df_complete)
        r = (1 + 1 / m) * b / ubar
        fmi = (r + 2 / (df + 3)) / (r + 1)
    return {"qbar": qbar, "ubar": ubar, "b": b, "t": t, "df": df, "r": r, "fmi": fmi, "lambda": lam}


# --- the analysis ------------------------------------------------------------------------------------------

def _rows(analysis, approach, coef, var, terms, n, events, df=None, fmi=None) -> list[dict]:
    se = np.sqrt(var)
    crit = stats.t.ppf(0.975, df) if df is not None else np.full(len(coef), stats.norm.ppf(0.975))
    p = 2 * (stats.t.sf(np.abs(coef / se), df) if df is not None else stats.norm.sf(np.abs(coef / se)))
    kind = ANALYSES[analysis][1]
    return [{"analysis": analysis, "approach": approach, "factor": f, "level": level if level != OWN_LEVEL else NOT_KNOWN,
             "reference": ref, "measure": "odds ratio" if kind == "logistic" else "hazard ratio",
             "ratio": float(np.exp(coef[j])), "conf_low": float(np.exp(coef[j] - crit[j] * se[j])),
             "conf_high": float(np.exp(coef[j] + crit[j] * se[j])), "p": float(p[j]), "n": n, "events": events,
             "fraction_missing_information": float(fmi[j]) if fmi is not None else np.nan,
             "method": METHODS[approach]} for j, (f, level, ref) in enumerate(terms)]


def own_level(values: pd.Series) -> pd.Series:
    """'Not known' renamed OWN_LEVEL, so the package's rule for groups treats it as any other; a categorical
    stays one, its groups re-sorted so that grouping sorts them as it would sort the text."""
    if isinstance(values.dtype, pd.CategoricalDtype) and NOT_KNOWN in values.cat.categories \
            and OWN_LEVEL not in values.cat.categories:
        renamed = values.cat.rename_categories({NOT_KNOWN: OWN_LEVEL})
        return renamed.cat.reorder_categories(sorted(renamed.cat.categories))
    text = values.astype(str)
    return text.where(text != NOT_KNOWN, OWN_LEVEL)


def _own_level_rows(frame: pd.DataFrame, analysis: str, kind: str, levels: dict[str, list[str]]) -> list[dict]:
    """The adjusted model with 'Not known' relabelled, so the package's rule treats it as any other group."""
    kept = [c for c in ("days", "event", WEIGHT) if c in frame]  # what the levels and the fit read, no more
    relabelled = pd.DataFrame({**{c: frame[c].to_numpy() for c in kept}, **{f: own_level(frame[f]) for f in FACTORS}})
    own = {f: model_levels(relabelled, f, "event", both_outcomes=kind == "logistic")[0] for f in levels}
    own = {f: v for f, v in own.items() if len(v) >= 2}
    c, v, t, n, events, _ = fit_adjusted(relabelled[usable_rows(relabelled, list(own), own)], own, kind)
    return _rows(analysis, APPROACHES[1], c, np.diag(v), t, n, events)


def counted_cases(frame: pd.DataFrame, analysis: str):
    """The frame the complete-case and own-level models are fitted from, the adjusted levels and the complete
    cases: the people counted once (counted_once) from COLLAPSE_FROM people up, the same cells as counting
    them for each model. The people themselves when the complete cases are fewer than COLLAPSE_FROM, as
    fit_adjusted fits so few on people (whose sums come in another order); the own-level model's people
    include every complete case, so it is fitted the same way."""
    logistic_model = ANALYSES[analysis][1] == "logistic"
    if len(frame) >= COLLAPSE_FROM:
        cases = counted_once(frame, analysis)
        levels, complete = adjusted_levels(cases, logistic_model)
        if not is_collapsed(complete) or int(complete[WEIGHT].sum()) >= COLLAPSE_FROM:
            return cases, levels, complete
    return frame, *adjusted_levels(frame, logistic_model)


def analyse_one(frame: pd.DataFrame, analysis: str, imputed: list[ImputedCopy], person_ids: pd.Series,
                categories: dict[str, list[str]]) -> list[dict]:
    kind = ANALYSES[analysis][1]
    cases, levels, complete = counted_cases(frame, analysis)
    coef, cov, terms, n, events, k = fit_adjusted(complete, levels, kind)
    rows = _rows(analysis, APPROACHES[0], coef, np.diag(cov), terms, n, events)
    # Each approach's rows are let go before the next are made: at a million people the three copies held
    # together were the run's peak memory.
    del complete
    rows += _own_level_rows(cases, analysis, kind, levels)
    del cases
    # multiple imputation, with the complete-case levels
    estimates, variances, ns, evs = [], [], [], []
    where = rows_of(person_ids, frame["person_id"])
    times = distinct(frame["days"].to_numpy()) if kind == "cox" else None
    event = frame["event"].to_numpy()
    unknown = np.zeros(len(frame), dtype=bool)
    for f in levels:
        unknown |= (frame[f] == NOT_KNOWN).to_numpy()
    # each imputed copy's factors put beside the frame's people (as a left merge would)
    for cells in imputed_cells_each(times, event, where, imputed, unknown, categories, levels):
        c, v, t, n3, e3, _ = fit_cells(cells, levels, kind)
        if t != terms:
            raise AssertionError("imputed fit has different terms")  # cannot happen: same levels
        estimates.append(c), variances.append(np.diag(v)), ns.append(n3), evs.append(e3)
    pooled = rubin(np.array(estimates), np.array(variances), df_complete=float(np.mean(ns) - k))
    rows += _rows(analysis, APPROACHES[2], pooled["qbar"], pooled["t"], terms, int(round(np.mean(ns))),
                  int(round(np.mean(evs))), df=pooled["df"], fmi=pooled["fmi"])
    return rows


def summary(frame: pd.DataFrame, analysis: str, table: pd.DataFrame) -> list[dict]:
    mine = table[table["analysis"] == analysis]
    out = []
    for approach in APPROACHES:
        rows = mine[mine["approach"] == approach]
        out.append({"analysis": analysis, "approach": approach, "n_analysed": int(rows["n"].iloc[0]) if len(rows) else 0,
                    "n_total": len(frame), "events": int(rows["events"].iloc[0]) if len(rows) else 0,
                    **{f"not_known_{f}": int((frame[f] == NOT_KNOWN).sum()) for f in FACTORS},
                    "imputations": IMPUTATIONS if approach == APPROACHES[2] else 0,
                    "iterations": ITERATIONS if approach == APPROACHES[2] else 0,
                    "seed": SEED if approach == APPROACHES[2] else 0, "method": METHODS[approach]})
    return out


def analyse(frames: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    people = frames["outcome"][["person_id", *FACTORS]]
    if not any((people[f] == NOT_KNOWN).any() for f in FACTORS) or frames["outcome"]["event"].nunique() < 2:
        return pd.DataFrame(), pd.DataFrame()
    # one imputation model for all three analyses
    imputed = impute(people, lambda rows: auxiliary(frames, rows), np.random.default_rng(SEED))
    categories = categories_of(people)  # what the imputed codes stand for, the same in every analysis
    note = sample_note(people)
    rows, sums = [], []
    for name, frame in frames.items():
        if not len(frame) or frame["event"].nunique() < 2:
            continue  # nobody in this analysis, or nothing to model (no events, or nothing but events)
        try:
            mine = analyse_one(frame, name, imputed, people["person_id"], categories)
        except (np.linalg.LinAlgError, ValueError, KeyError, IndexError):
            continue  # a model that cannot be fitted on these data: left out, as the paper's models are
        if not mine:
            continue  # no term to compare (every factor has fewer than two groups that can be compared)
        rows += mine
        sums += summary(frame, name, pd.DataFrame(mine))
    for record in rows + sums:
        if record["approach"] == APPROACHES[2]:
            record["method"] += note
    return pd.DataFrame(rows), pd.DataFrame(sums)  # empty when nothing could be fitted

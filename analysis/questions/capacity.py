"""Capacity and time limits: how many people the service carries, for how long, and what a time limit frees.

The paper's first aim ("limited access to IPS resulting from low employment specialist case-loads and
time-unlimited ongoing in-work support", its reference 12 being the IPS-LITE trial) asks how many people a
team can take on and what a limit on support would free and cost. From the dates of the extract alone:

* **Phases.** Each person is on the case-load from first contact to discharge (or, still open, to the
  extract date). That time is split into phases: *seeking work* (first contact to the outcome date, or to
  discharge without an outcome; for people already in work at referral, retained_employment, the days
  before in-work support began), *in work* (outcome date of gained or retained employment to discharge:
  the in-work support of R5-R7) and *in education* (start of education to discharge). A person counts on
  the case-load on day t when first contact <= t < discharge (the day of discharge is not counted; open
  cases count up to the day before the extract date), so the census summed over days equals the sum of
  the observed times on the case-load exactly.
* **Time on the case-load per phase** is censoring-aware: Kaplan-Meier of leaving the phase (people still
  in it at the extract date censored), summarised by its median and by its restricted mean up to tau,
  the longest time any phase could be followed in this extract (a restricted mean is a lower bound on the
  mean when people are still in the phase at tau).
* **Little's law.** In a steady state the case-load L equals the arrival rate lambda times the mean time
  on the case-load W (Little 1961), phase by phase. An extract of one year's first contacts is never in a
  steady state (it starts empty: people first seen before the window are not in it), so the census is
  also checked against the law's time-varying form for an infinite-server queue (Eick, Massey & Whitt
  1993): the expected census on day t is the sum over earlier days s of the arrivals on s times the
  Kaplan-Meier probability of still being in the phase t - s days later. The steady form is checked over
  the steady window when the extract has one (arrivals for longer than 95% of people stay), within a
  stated tolerance (TOLERANCE, relative).
* **What-if rules** (limits in months since the phase began): in-work support limited to k months; job
  seeking limited to k months (people not in work at referral, referred back if still seeking at k
  months); and IPS-LITE's pattern (Burns et al. 2015: referred back if still unemployed at 9 months or
  after 4 months of in-work support). Each is estimated two ways: *per year in a steady state* at this
  extract's arrival rate, from the Kaplan-Meier curves (censoring-aware: places freed = arrivals into the
  phase x the restricted area under its curve beyond k; people whose support would have been cut while
  still using it = arrivals x S(k); job starts forgone by a job-seeking limit = the Aalen-Johansen
  incidence of a first job between k and tau), and *in this extract* (exact on the dates: each person's
  support stopped at the limit, the census recomputed, person-days freed over the follow-up).

What the data cannot say: whether support after month k kept people in work. The extract records when
support ended, not whether the job lasted; nobody in it had support cut at k, so what would have happened
to them without it is not observed (the IPS-LITE trial randomised exactly that question).

Long because this docstring states the whole method and the what-if rules are computed on the Service that
describe_service builds here; the case-load's reconstruction (phases, census, durations) is analysis/questions/caseload.py.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.questions.competing import first_event_times
from analysis.questions.employment import EMPLOYED
from analysis.stats.survival import aalen_johansen, km_median, restricted_mean, step_at
from analysis.core.contract import IN_WORK_OUTCOMES
from analysis.core.results import MONTH_DAYS, row
from analysis.questions.caseload import (_km, area_between, census, phase_durations, phase_spans, phases,
                                         survival_at)

YEAR_DAYS = 365.25
IPS25_MAX_PER_SPECIALIST = 20  # IPS-25 item 1: at most 20 clients per full-time employment specialist (Bond et al. 2012)
TOLERANCE = 0.10  # Little's law: census and lambda x W agree within 10% (relative)
STEADY_SHARE = 0.05  # a steady window starts once arrivals have run for as long as 95% of people stay
MIN_CENSUS = 20  # days with fewer people on the case-load are left out of the relative check
PHASES = {"seeking": "seeking work", "in_work": "in work (in-work support)", "education": "in education"}

KM_PHASE_METHOD = ("Kaplan-Meier of leaving the phase (lifelines; still in it at the extract date censored); "
                   "median as R survfit; restricted mean = area under the curve up to tau")
CENSUS_METHOD = ("Open case-load reconstructed day by day from the dates: on the case-load when first contact <= "
                 "day < discharge (open cases up to the extract date); phases split at the outcome date")
LITTLE_METHOD = ("Little's law L = lambda x W per phase: lambda = entries into the phase per day (in-work and "
                 "education entries per first contact from the Aalen-Johansen incidence at tau, people in work "
                 "at referral counted at entry), W = Kaplan-Meier restricted mean time in the phase up to tau; "
                 "checked against the reconstructed census in its time-varying form (infinite-server queue: "
                 "expected census on day t = sum over s <= t of entries on s x KM probability of still being in "
                 "the phase at t - s; Eick, Massey & Whitt 1993) as the mean over every day of the follow-up, "
                 "and in its steady form (mean census over the steady window against lambda x W) when there is "
                 f"one; tolerance {TOLERANCE:.0%} relative")
WHAT_IF_METHOD = ("Steady state per year at this extract's arrival rate, censoring-aware: places freed = entries "
                  "into the phase per day x Kaplan-Meier restricted area beyond the limit (job seeking: the area "
                  "under the Kaplan-Meier of the whole remaining time on the case-load of people still seeking at "
                  "the limit, a landmark analysis); people cut = entries x KM probability of still being in the "
                  "phase at the limit; job starts forgone = Aalen-Johansen incidence of a first job between the "
                  "limit and tau (education and discharge competing); more starts per year at the same case-load "
                  "= arrivals x places freed / (L - places freed). In this extract: exact on the dates, each "
                  "person's support stopped at the limit, person-days freed over the follow-up / its days")


@dataclass(frozen=True)
class Limit:
    """A what-if rule: job seeking and/or in-work support limited to so many months (None: no limit)."""
    rule: str  # identifier, e.g. "in-work 6m" (a level of key_results' factor "rule")
    seeking_months: float | None = None
    in_work_months: float | None = None

    @property
    def label(self) -> str:
        if self.seeking_months is not None and self.in_work_months is not None:
            return (f"IPS-LITE: referred back if still seeking work at {self.seeking_months:g} months or after "
                    f"{self.in_work_months:g} months of in-work support")
        if self.seeking_months is not None:
            return f"job seeking limited to {self.seeking_months:g} months"
        return f"in-work support limited to {self.in_work_months:g} months"


def in_work_limit(months: float) -> Limit:
    return Limit(f"in-work {months:g}m", in_work_months=float(months))


def seeking_limit(months: float) -> Limit:
    return Limit(f"job-seeking {months:g}m", seeking_months=float(months))


IPS_LITE = Limit("IPS-LITE", seeking_months=9.0, in_work_months=4.0)
DEFAULT_LIMITS = (in_work_limit(6), in_work_limit(9), in_work_limit(12), seeking_limit(6), seeking_limit(9),
                  seeking_limit(12), IPS_LITE)


@dataclass(frozen=True)
class Options:
    """Run options of the capacity analysis: the staffing (a constant whole-time equivalent, or a table of
    month, specialists_wte) and the limits to try beside the defaults."""
    specialists_wte: float | None = None
    staffing: pd.DataFrame | None = None
    limits: tuple[Limit, ...] = DEFAULT_LIMITS

    def with_limits(self, in_work: list[float] = (), seeking: list[float] = ()) -> "Options":
        extra = [in_work_limit(k) for k in in_work] + [seeking_limit(k) for k in seeking]
        known = {limit.rule for limit in self.limits}
        return Options(self.specialists_wte, self.staffing, self.limits + tuple(x for x in extra if x.rule not in known))


# --- the analysis -------------------------------------------------------------------------------------------

@dataclass
class Service:
    """What the what-if rules and Little's law need, computed once."""
    n: int
    retained: int
    period_days: int  # days of the months with first contacts (the entry window)
    follow_days: int  # days from the window's first day to the extract date
    tau: float
    km: dict[str, pd.DataFrame]
    durations: dict[str, pd.DataFrame]
    job_cif: pd.DataFrame  # first job from first contact, education and discharge competing (not retained)
    education_cif: pd.DataFrame
    seekers: pd.DataFrame  # employment first-event times of people not in work at referral
    p: pd.DataFrame

    @property
    def arrivals_per_day(self) -> float:
        return self.n / self.period_days

    def entries_per_day(self, phase: str) -> float:
        """Entries into a phase per day in a steady state (censoring-aware shares of first contacts)."""
        lam = self.arrivals_per_day
        seeking_share = (self.n - self.retained) / self.n
        if phase in ("seeking", "total"):
            return lam
        if phase == "in_work":
            return lam * (self.retained / self.n + seeking_share * _at(self.job_cif, self.tau))
        return lam * seeking_share * _at(self.education_cif, self.tau)

    def mean_time(self, phase: str) -> float:
        return restricted_mean(self.km[phase], self.tau)[0] if len(self.km[phase]) else 0.0

    def steady_caseload(self) -> float:
        return sum(self.entries_per_day(ph) * self.mean_time(ph) for ph in PHASES)


def _at(cif: pd.DataFrame, days: float) -> float:
    return float(step_at(cif, [days], ["cif"], before=0.0).iloc[0]["cif"]) if len(cif) else 0.0


def describe_service(data: pd.DataFrame, extract_date: pd.Timestamp) -> Service:
    p = phases(data, extract_date)
    first, last = data["first_contact_date"].min(), data["first_contact_date"].max()
    origin = first.to_period("M").to_timestamp()
    period_days = int((last.to_period("M").to_timestamp(how="end").normalize() - origin).days) + 1
    follow_days = int((extract_date - origin).days)
    durations = phase_durations(data, extract_date, p)
    km = {phase: _km(frame) for phase, frame in durations.items()}
    # tau: the longest time in any phase that this extract can show (from the window's first day to the
    # extract date): known from the window and the extract date alone, so it gives away no one's time
    tau = float(follow_days)
    seekers = first_event_times(data, extract_date)
    cells = seekers.groupby(["days", "cause"]).size().rename("n").reset_index()
    job_cif = aalen_johansen(cells["days"], cells["cause"], of=EMPLOYED, weight=cells["n"])
    from analysis.questions.employment import EDUCATION
    education_cif = aalen_johansen(cells["days"], cells["cause"], of=EDUCATION, weight=cells["n"])
    retained = int((data["outcome"] == "retained_employment").sum())
    return Service(len(data), retained, period_days, follow_days, tau, km, durations, job_cif, education_cif,
                   seekers, p)


def arrivals_by_month(data: pd.DataFrame, extract_date: pd.Timestamp) -> pd.DataFrame:
    """First contacts, in-work and education starts and discharges by calendar month (counts)."""
    first = data["first_contact_date"].min().to_period("M")
    months = pd.period_range(first, extract_date.to_period("M"), freq="M")
    positive = data["outcome_date"].notna()
    count = lambda dates: dates.dt.to_period("M").value_counts().reindex(months, fill_value=0).to_numpy()  # noqa: E731
    table = pd.DataFrame({
        "month": months.astype(str),
        "first_contacts": count(data["first_contact_date"]),
        "in_work_starts": count(data.loc[positive & data["outcome"].isin(IN_WORK_OUTCOMES), "outcome_date"]),
        "education_starts": count(data.loc[positive & (data["outcome"] == "education"), "outcome_date"]),
        "discharges": count(data["discharge_date"].dropna()),
    })
    table["method"] = "Counts by calendar month of the dates in the extract"
    return table


def monthly_census(daily: pd.DataFrame, origin: pd.Timestamp, options: Options) -> pd.DataFrame:
    """The census on the first day of each month and its mean over the month, by phase (counts), with the
    case-load per whole-time specialist beside the IPS-25 standard when the staffing is known."""
    dates = origin + pd.to_timedelta(daily["day"], unit="D")
    month = dates.dt.to_period("M")
    first = daily[dates.dt.day.to_numpy() == 1].assign(month=month[dates.dt.day.to_numpy() == 1].astype(str))
    table = first[["month", *PHASES, "total"]].reset_index(drop=True)
    means = daily.assign(month=month.astype(str)).groupby("month", sort=True)["total"].mean()
    days_in = daily.assign(month=month.astype(str)).groupby("month", sort=True)["total"].size()
    table["mean_total"] = table["month"].map(means).to_numpy()
    table["days_counted"] = table["month"].map(days_in).to_numpy()
    table["specialists_wte"] = staffing_by_month(table["month"], options)
    with np.errstate(divide="ignore", invalid="ignore"):
        table["caseload_per_specialist"] = table["mean_total"] / table["specialists_wte"]
    table["ips25_standard"] = IPS25_MAX_PER_SPECIALIST
    table["method"] = (CENSUS_METHOD + "; census on the first day of the month by phase, mean of the daily total "
                       "over the month; case-load per specialist = mean daily total / whole-time equivalents "
                       f"(IPS-25: at most {IPS25_MAX_PER_SPECIALIST} per specialist, Bond et al. 2012)")
    return table


def staffing_by_month(months: pd.Series, options: Options) -> np.ndarray:
    """Whole-time equivalent specialists per month: the staffing table's month, else the constant, else NaN."""
    values = np.full(len(months), np.nan if options.specialists_wte is None else float(options.specialists_wte))
    if options.staffing is not None and len(options.staffing):
        by_month = dict(zip(options.staffing["month"].astype(str), options.staffing["specialists_wte"].astype(float)))
        values = np.array([by_month.get(m, v) for m, v in zip(months, values)], dtype=float)
    return values


def durations_table(service: Service) -> pd.DataFrame:
    rows = []
    for phase in (*PHASES, "total"):
        frame, km = service.durations[phase], service.km[phase]
        median, low, high = km_median(km) if len(km) else (np.nan,) * 3
        rows.append({"phase": phase, "n": len(frame), "events": int(frame["left"].sum()),
                     "km_median_days": median, "km_median_conf_low": low, "km_median_conf_high": high,
                     "rmst_days": service.mean_time(phase), "tau_days": service.tau,
                     "still_in_phase_at_tau_pct": 100 * survival_at(km, service.tau) if len(km) else np.nan,
                     "method": KM_PHASE_METHOD + " (tau = the longest follow-up the extract allows: the window's "
                     "first day to the extract date)"})
    return pd.DataFrame(rows)


def expected_census(entries: np.ndarray, km: pd.DataFrame, days: int) -> np.ndarray:
    """The infinite-server queue: sum over s <= t of entries on day s x P(still in the phase t - s days later)."""
    if not len(km):
        return np.zeros(days)
    # P(T > u) for u = 0, 1, ...: the KM step function at whole days (someone leaving on day u is not counted)
    surv = step_at(km, np.arange(days, dtype=float), ["survival"])["survival"].to_numpy()
    return np.convolve(entries[:days].astype(float), surv)[:days]


def littles_law(service: Service, daily: pd.DataFrame) -> pd.DataFrame:
    """Little's law per phase: lambda x W (steady state) beside the reconstructed census, checked in its
    time-varying form over the whole follow-up (time averages) and in its steady form over the steady window."""
    spans = phase_spans(service.p)
    days = len(daily)
    survival_total = service.km["total"]
    below = survival_total[survival_total["survival"] <= STEADY_SHARE]["time"]
    stay95 = float(below.iloc[0]) if len(below) else np.inf
    # steady window: arrivals have run for at least stay95 days and are still arriving
    steady = np.arange(days)[(np.arange(days) >= stay95) & (np.arange(days) <= service.period_days - 1)]
    rows = []
    for phase in (*PHASES, "total"):
        if not len(service.durations[phase]):
            continue  # no one entered this phase (e.g. no education outcomes): nothing to check
        a, b = spans[phase] if phase != "total" else (service.p["start"].to_numpy(), service.p["end"].to_numpy())
        keep = b > a
        entries = np.bincount(a[keep].astype(int), minlength=days)[:days]
        # people entering and leaving on the same day spend no day in the phase: the KM's exits at time 0
        expected = expected_census(entries, service.km[phase], days)
        observed = daily[phase].to_numpy(dtype=float)
        mean_observed, mean_expected = float(observed.mean()), float(expected.mean())
        difference = (mean_expected - mean_observed) / mean_observed if mean_observed > 0 else np.nan
        counted = observed >= MIN_CENSUS
        with np.errstate(divide="ignore", invalid="ignore"):
            daily_deviation = np.abs(expected - observed) / observed
        lam, w = service.entries_per_day(phase), service.mean_time(phase)
        steady_census = float(observed[steady].mean()) if len(steady) else np.nan
        steady_difference = (lam * w - steady_census) / steady_census if len(steady) and steady_census > 0 else np.nan
        holds = bool(pd.notna(difference) and abs(difference) <= TOLERANCE
                     and (not len(steady) or abs(steady_difference) <= TOLERANCE))
        rows.append({"phase": phase, "entries_per_day": lam, "entries_per_year": lam * YEAR_DAYS,
                     "mean_days_in_phase": w, "littles_law_caseload": lam * w,
                     "days_checked": days, "mean_census": mean_observed, "mean_expected_census": mean_expected,
                     "relative_difference_pct": 100 * difference,
                     "days_with_20_or_more": int(counted.sum()),
                     "max_daily_deviation_pct": 100 * float(daily_deviation[counted].max()) if counted.any() else np.nan,
                     "steady_window_days": int(len(steady)), "steady_mean_census": steady_census,
                     "steady_relative_difference_pct": 100 * steady_difference if pd.notna(steady_difference) else np.nan,
                     "tolerance_pct": 100 * TOLERANCE, "holds": holds, "method": LITTLE_METHOD})
    table = pd.DataFrame(rows)
    table.attrs["stay95_days"] = stay95
    return table


def _rule_discharge(p: pd.DataFrame, limit: Limit) -> np.ndarray:
    """Each person's last day on the case-load under the rule (day number, exclusive), no later than the actual."""
    start, end, o = p["start"].to_numpy(), p["end"].to_numpy(), p["outcome_day"].to_numpy()
    cut = end.copy()
    has = ~np.isnan(o)
    if limit.seeking_months is not None:
        k = limit.seeking_months * MONTH_DAYS
        seeker = (p["outcome"] != "retained_employment").to_numpy()
        leaves_seeking = np.where(has, o, end)  # outcome day, or discharge / extract date
        hit = seeker & (leaves_seeking - start > k)  # still seeking work at k (the limit falls inside the phase)
        cut = np.where(hit, np.minimum(cut, start + k), cut)
    if limit.in_work_months is not None:
        k = limit.in_work_months * MONTH_DAYS
        in_work = p["outcome"].isin(IN_WORK_OUTCOMES).to_numpy() & has
        cut = np.where(in_work, np.minimum(cut, np.where(in_work, o, 0) + k), cut)
    return np.minimum(cut, end)


def observed_effect(service: Service, limit: Limit, extract_day: float) -> dict:
    """The rule applied to the dates: exact within the follow-up."""
    p = service.p
    cut = _rule_discharge(p, limit)
    freed = np.maximum(p["end"].to_numpy() - cut, 0.0)
    used = (p["end"] - p["start"]).to_numpy()
    affected = freed > 0  # still on the case-load when the limit fell, and it fell before the extract date
    o = p["outcome_day"].to_numpy()
    forgone = affected & (p["outcome"] == "gained_employment").to_numpy() & ~np.isnan(o) & (o > cut)
    return {"observed_person_days_freed": float(freed.sum()),
            "observed_places_freed": float(freed.sum() / extract_day),
            "observed_share_freed_pct": float(100 * freed.sum() / used.sum()) if used.sum() else np.nan,
            "observed_people_cut": int(affected.sum()), "observed_jobs_forgone": int(forgone.sum())}


def steady_effect(service: Service, limit: Limit) -> dict:
    """The rule per year in a steady state, from the censoring-aware curves."""
    lam, tau = service.arrivals_per_day, service.tau
    seeking_share = (service.n - service.retained) / service.n
    freed, cut, forgone = 0.0, 0.0, 0.0
    in_work_km, in_work_rate = service.km["in_work"], service.entries_per_day("in_work")
    if limit.seeking_months is not None:
        k = limit.seeking_months * MONTH_DAYS
        seeking = service.durations["seeking"][(service.p["outcome"] != "retained_employment").to_numpy()]
        s_k = survival_at(_km(seeking), k)
        # landmark: people still seeking work at k; their whole remaining time on the case-load from k
        total = service.durations["total"][(service.p["outcome"] != "retained_employment").to_numpy()]
        still = (seeking["days"] > k).to_numpy()
        remaining = pd.DataFrame({"days": total["days"].to_numpy()[still] - k, "left": total["left"].to_numpy()[still]})
        per_seeker = s_k * area_between(_km(remaining), 0.0, tau - k) if still.any() else 0.0
        freed += lam * seeking_share * per_seeker
        cut += lam * seeking_share * s_k
        forgone += lam * seeking_share * max(_at(service.job_cif, tau) - _at(service.job_cif, k), 0.0)
        # an in-work limit beside it applies only to jobs started before the job-seeking limit (and to people
        # in work at referral): later jobs' support is already in the landmark's remaining time
        in_work_rate = lam * (service.retained / service.n + seeking_share * _at(service.job_cif, k))
        in_work_km = _km(_in_work_started_by(service, k))
    if limit.in_work_months is not None:
        k = limit.in_work_months * MONTH_DAYS
        freed += in_work_rate * area_between(in_work_km, k, tau)
        cut += in_work_rate * survival_at(in_work_km, k)
    caseload = service.steady_caseload()
    more = lam * freed / (caseload - freed) if caseload > freed else np.nan
    return {"places_freed": freed, "share_of_caseload_pct": 100 * freed / caseload if caseload else np.nan,
            "more_starts_per_year": YEAR_DAYS * more, "people_cut_per_year": YEAR_DAYS * cut,
            "jobs_forgone_per_year": YEAR_DAYS * forgone}


def _in_work_started_by(service: Service, k: float) -> pd.DataFrame:
    """In-work support durations of people whose job started within k days of first contact, or who were in
    work at referral (their in-work support is the only support a job-seeking limit leaves them)."""
    p = service.p
    in_work = p[p["outcome"].isin(IN_WORK_OUTCOMES) & p["outcome_day"].notna()]
    early = ((in_work["outcome"] == "retained_employment") | (in_work["outcome_day"] - in_work["start"] <= k)).to_numpy()
    return service.durations["in_work"][early]


def what_if(service: Service, limits: tuple[Limit, ...]) -> pd.DataFrame:
    rows = []
    for limit in limits:
        rows.append({"rule": limit.rule, "label": limit.label, "seeking_limit_months": limit.seeking_months,
                     "in_work_limit_months": limit.in_work_months, **steady_effect(service, limit),
                     **observed_effect(service, limit, float(service.follow_days)), "method": WHAT_IF_METHOD})
    return pd.DataFrame(rows)


def analyse(data: pd.DataFrame, extract_date: pd.Timestamp, options: Options | None = None
            ) -> tuple[list[dict], dict[str, pd.DataFrame]]:
    options = options or Options()
    service = describe_service(data, extract_date)
    origin = data["first_contact_date"].min().to_period("M").to_timestamp()
    daily = census(phase_spans(service.p), service.follow_days)
    arrivals = arrivals_by_month(data, extract_date)
    monthly = monthly_census(daily, origin, options)
    durations = durations_table(service)
    law = littles_law(service, daily)
    stay95 = law.attrs["stay95_days"]
    steady = pd.DataFrame([{
        "arrivals_per_month": service.arrivals_per_day * MONTH_DAYS, "arrivals_per_year": service.arrivals_per_day * YEAR_DAYS,
        "entry_window_days": service.period_days, "follow_up_days": service.follow_days, "tau_days": service.tau,
        "stay95_days": stay95, "steady_caseload": service.steady_caseload(),
        "specialists_wte": float(np.nanmean(monthly["specialists_wte"])) if monthly["specialists_wte"].notna().any() else np.nan,
        "method": LITTLE_METHOD + "; steady case-load = sum over phases of lambda x W; 95% of people have left by "
                  "stay95_days (Kaplan-Meier of the whole time on the case-load)"}])
    with np.errstate(divide="ignore", invalid="ignore"):
        steady["steady_caseload_per_specialist"] = steady["steady_caseload"] / steady["specialists_wte"]
    steady["ips25_standard"] = IPS25_MAX_PER_SPECIALIST
    steady["specialists_needed_at_standard"] = steady["steady_caseload"] / IPS25_MAX_PER_SPECIALIST
    rules = what_if(service, options.limits)
    s = steady.iloc[0]
    keys = [row("capacity_arrivals_per_month", s["arrivals_per_month"],
                "First contacts per month over the entry window (count / days x 365.25/12)", n=service.n),
            row("capacity_steady_caseload", s["steady_caseload"], LITTLE_METHOD, n=service.n),
            row("capacity_caseload_per_specialist", s["steady_caseload_per_specialist"],
                "Little's-law case-load / mean whole-time equivalent specialists; IPS-25 standard at most 20", n=service.n),
            row("capacity_littles_law_difference_pct", float(law.loc[law["phase"] == "total", "relative_difference_pct"].iloc[0]),
                LITTLE_METHOD + "; mean expected total census over the follow-up minus the reconstructed, relative",
                n=service.n)]
    for _, r in rules.iterrows():
        for measure, column in (("capacity_places_freed", "places_freed"),
                                ("capacity_people_cut_per_year", "people_cut_per_year"),
                                ("capacity_more_starts_per_year", "more_starts_per_year"),
                                ("capacity_jobs_forgone_per_year", "jobs_forgone_per_year")):
            keys.append(row(measure, r[column], WHAT_IF_METHOD + f"; {r['label']}", factor="rule", level=r["rule"],
                            n=service.n))
    tables = {"capacity_arrivals": arrivals, "capacity_census": monthly, "capacity_durations": durations,
              "capacity_littles_law": law, "capacity_steady": steady, "capacity_what_if": rules}
    return keys, tables

"""What a run reports about itself: the burn-in and the measurement window, undefined metrics, the
per-loan table, the roll-rate matrix, vintages, segments and the persistence of delinquency.

Tables are checked against the model's state watched day by day, not against the recording code.
"""

from __future__ import annotations

import functools
import json
import warnings

import numpy as np
import pandas as pd
import pytest

import sim
from sim import analysis, metrics
from sim.mechanisms import loans as loans_mod
from sim.metrics import ROLL_FROM, ROLL_TO, SEGMENTS, UndefinedMetricWarning
from sim.state import CAUSES


def _run_quietly(*args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return sim.run(*args, **kw)


# --------------------------------------------------------------------------- burn-in and window


def test_the_window_follows_the_burn_in_and_flows_are_counted_in_it():
    r = _run_quietly("baseline", borrowers=1500, days=90, seed=2, overrides={"simulation.burn_in": 60})
    d = r.daily
    assert len(d) == 151 and d["burn_in"].sum() == 60
    at_t0 = d[d["day"] == 60].iloc[0]
    end = d.iloc[-1]
    # flows are end minus the start of the window: the daily counters say the same
    assert r.summary["charge_offs"] == end["charge_offs"] - at_t0["charge_offs"]
    assert r.summary["complaints"] == end["complaints"] - at_t0["complaints"]
    assert r.summary["visits"] == end["visits"] - at_t0["visits"]
    assert r.summary["collection_cost"] == pytest.approx(end["collection_cost"] - at_t0["collection_cost"])
    assert r.summary["profit"] == pytest.approx(end["profit"] - at_t0["profit"])
    assert r.summary["applications"] == d.loc[d["day"] > 60, "applications"].sum()
    assert r.summary["originations"] == d.loc[d["day"] > 60, "originations"].sum()
    # stocks are averaged over the window's days only
    assert r.summary["mean_stress"] == pytest.approx(d.loc[d["day"] > 60, "mean_stress"].mean())
    # window loans: active at t0 or booked after
    L = r.loans
    assert r.summary["loans"] == int(L["in_window"].sum())
    assert r.summary["loans"] == int(at_t0["active_loans"]) + r.summary["originations"]


def test_burn_in_zero_is_the_run_from_day_zero():
    a = _run_quietly("baseline", borrowers=800, days=60, seed=4, overrides={"simulation.burn_in": 0})
    assert a.daily["day"].tolist() == list(range(61)) and not a.daily["burn_in"].any()
    assert a.summary["loans"] == len(a.loans)  # every loan of the run is in the window


def test_recession_timeline_is_on_the_windows_clock():
    over = {"macro.recession.enabled": True, "macro.recession.start_day": 10, "simulation.burn_in": 50}
    m = sim.CreditModel(scenario="baseline", borrowers=200, days=100, rng=1, overrides=over)
    seen = {}
    for _ in range(80):
        m.step()
        seen[m.day] = m.macro.job_loss
    assert all(seen[t] == 1.0 for t in range(1, 61))  # burn-in and the window's first 10 days: calm
    assert seen[75] > 1.0  # 25 days into the window: the recession bites


@functools.lru_cache(maxsize=None)
def _baseline_runs():
    """Four 40,000 x 730 baseline runs with the default burn-in. The size is set by the trend test's
    noise: at 10,000 borrowers one run's drift of the 30+ DPD share has a standard deviation of about a
    fifth of the level (16 seeds), so three such runs could not tell a flat series from a drifting one."""
    return [_run_quietly("baseline", borrowers=40_000, days=730, seed=seed) for seed in (1, 2, 3, 4)]


def _baseline_windows():
    """Daily series of the window of those runs."""
    return [r.daily[r.daily["window_day"] > 0] for r in _baseline_runs()]


@pytest.mark.slow
def test_distress_is_tied_to_debt_about_as_published():
    """Odds ratio of high stress, delinquent vs current borrowers, near the published ~3
    (Richardson, Elliott & Roberts 2013): between 2 and 5 in every replicate."""
    ors = [r.summary["high_stress_odds_ratio"] for r in _baseline_runs()]
    assert all(2.0 <= x <= 5.0 for x in ors), ors


@pytest.mark.slow
def test_delinquency_persists_per_person_in_the_loan_table():
    """From the per-loan table: a person whose earlier loan reached 30+ DPD is several times likelier to
    have a later loan reach 30+ DPD than a person without such a history."""
    ratios = []
    for r in _baseline_runs():
        loans = r.loans.sort_values(["person", "orig_day"])
        hit = loans["day_dpd30"].to_numpy() >= 0
        # hits on the person's earlier loans: their running count, less this loan's own
        before = loans.assign(hit=hit.astype(int)).groupby("person")["hit"].cumsum().to_numpy() - hit
        earlier = before > 0
        ratios.append(hit[earlier].mean() / hit[~earlier].mean())
    assert min(ratios) > 2.0, ratios
    assert all(r.summary["late_again_ratio"] > 2.0 for r in _baseline_runs())


@pytest.mark.slow
def test_the_cause_mix_is_not_one_cause_and_roll_rates_rise_with_depth():
    for r in _baseline_runs():
        s = r.summary
        shares = [s[f"cause_{c}"] for c in CAUSES]
        assert sum(shares) == pytest.approx(1.0)
        assert max(shares) < 0.6, shares
        assert sum(x >= 0.05 for x in shares) >= 3, shares  # several causes matter
        assert s["roll_60_90"] > s["roll_30_60"] and s["roll_90_120"] > s["roll_30_60"], s
        assert s["cure_1_29"] > s["cure_30_59"] > s["cure_60_89"], s


@pytest.mark.slow
def test_after_the_burn_in_the_delinquency_share_has_no_trend():
    """Over the window of a 40,000 x 730 run with the default burn-in, the 30+ DPD share of active loans
    does not drift by more than a fifth of its level (the line fitted against the day, over the window,
    mean of four seeds; the standard error of that mean is about a twentieth of the level). A book still
    filling from its day-0 set-up rises from 0 to its level within a few months (see
    experiments/burn_in.py). What remains after the default burn-in is slow: people charged off never
    borrow again (0.4% of the market a year), so the riskiest leave the book; 16 seeds at 10,000
    borrowers put that drift at -10% +- 5% of the level over the window."""
    slopes, levels = [], []
    for w in _baseline_windows():
        y = ((w["dpd_30_59"] + w["dpd_60_89"] + w["dpd_90_plus"]) / w["active_loans"]).to_numpy(float)
        slopes.append(np.polyfit(w["window_day"].to_numpy(float), y, 1)[0])
        levels.append(y.mean())
    drift, level = np.mean(slopes) * 730, np.mean(levels)
    assert level > 0.005
    assert abs(drift) < 0.2 * level, (drift, level)


@pytest.mark.slow
def test_after_the_burn_in_trust_has_no_trend():
    """Mean brand trust drifts by less than 0.01 (on its 0..1 scale) over the window: below the size of
    the strategy effects the model is used to compare."""
    drifts = []
    for w in _baseline_windows():
        drifts.append(np.polyfit(w["window_day"].to_numpy(float), w["brand_trust"].to_numpy(float), 1)[0] * 730)
    assert abs(np.mean(drifts)) < 0.01, drifts


# --------------------------------------------------------------------------- undefined metrics


def test_undefined_ratios_are_nan_with_one_warning_each(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = sim.run("baseline", borrowers=600, days=40, seed=1, overrides={"simulation.burn_in": 0})
    named = [str(w.message).split()[0] for w in caught if issubclass(w.category, UndefinedMetricWarning)]
    nan = sorted(k for k, v in r.summary.items() if isinstance(v, float) and np.isnan(v))
    # no plans in the baseline, no loan booked in a 40-day window observed 365 days
    assert {"plan_redefault_rate", "ever_30dpd_rate"} <= set(nan)
    assert sorted(named) == nan  # exactly one warning per undefined metric, naming it
    assert all(" is undefined (NaN): " in str(w.message) for w in caught
               if issubclass(w.category, UndefinedMetricWarning))
    assert issubclass(UndefinedMetricWarning, UserWarning)
    # never 0 in place of undefined; null in summary.json
    r.save(tmp_path)
    doc = json.loads((tmp_path / "summary.json").read_text())
    assert all(doc["summary"][k] is None for k in nan)
    assert all(doc["summary"][k] is not None for k in r.summary if k not in nan)


# --------------------------------------------------------------------------- the per-loan table


class Watch:
    """Watches a model from outside: DPD right after each day's loans.update (where DPD is set),
    and, at the end of each day, which loans are active, ended, on a plan."""

    def __init__(self, monkeypatch, model):
        self.m = model
        self.first = {k: {} for k in (1, 5, 30, 60, 90)}
        self.max = {}
        self.plan_day, self.redefault = {}, {}
        self.orig, self.end, self.charged = {}, {}, set()
        self.person = {}
        original = loans_mod.update

        def update(model, t, paid):
            original(model, t, paid)
            p = model.people
            act = np.flatnonzero(p.has_loan)
            for i, lid, dpd in zip(act, p.loan_id[act], p.dpd[act]):
                self.max[lid] = max(self.max.get(lid, 0), int(dpd))
                for k, first in self.first.items():
                    if dpd >= k and lid not in first:
                        first[lid] = t
                if dpd >= 30 and lid in self.plan_day and t > self.plan_day[lid] and lid not in self.redefault:
                    self.redefault[lid] = t

        monkeypatch.setattr(loans_mod, "update", update)
        self._active = self._now()

    def _now(self):
        p = self.m.people
        act = np.flatnonzero(p.has_loan)
        for i, lid in zip(act, p.loan_id[act]):
            self.person[lid] = int(i)
            self.orig.setdefault(lid, int(p.orig_day[i]))
        return {int(lid): int(i) for i, lid in zip(act, p.loan_id[act])}

    def step(self):
        self.m.step()
        t, p = self.m.day, self.m.people
        now = self._now()
        for lid, i in self._active.items():
            if lid not in now:
                self.end[lid] = t
                if p.banned[i]:
                    self.charged.add(lid)
        for lid, i in now.items():
            if p.plans_taken[i] > 0 and lid not in self.plan_day:
                self.plan_day[lid] = t
        self._active = now


def test_loan_table_agrees_with_the_watched_model(monkeypatch):
    over = {"simulation.burn_in": 30, "macro.recession.enabled": True,
            "macro.recession.start_day": 0}
    m = sim.CreditModel(scenario="flexible_plans", borrowers=2500, days=250, rng=5, overrides=over)
    w = Watch(monkeypatch, m)
    while m.running:
        w.step()
    L = metrics.loan_table(m).set_index("loan_id")
    assert set(L.index) == set(w.orig)  # every loan: the day-0 book, burn-in, window; ended and active
    assert set(metrics.LOAN_COLUMNS) - {"loan_id"} <= set(L.columns)
    assert len(w.first[30]) > 20 and len(w.plan_day) > 5 and len(w.charged) > 3 and len(w.redefault) > 0
    for k, first in w.first.items():
        expect = pd.Series({lid: first.get(lid, -1) for lid in L.index})
        assert (L[f"day_dpd{k}"] == expect).all(), k
    assert (L["max_dpd"] == pd.Series({lid: w.max.get(lid, 0) for lid in L.index})).all()
    assert (L["end_day"] == pd.Series({lid: w.end.get(lid, -1) for lid in L.index})).all()
    outcome = pd.Series({lid: "charged_off" if lid in w.charged else "repaid" if lid in w.end else "active"
                         for lid in L.index})
    assert (L["outcome"] == outcome).all()
    assert (L["first_plan_day"] == pd.Series({lid: w.plan_day.get(lid, -1) for lid in L.index})).all()
    assert (L["redefault_day"] == pd.Series({lid: w.redefault.get(lid, -1) for lid in L.index})).all()
    assert (L["person"] == pd.Series(w.person)).all()
    # promises and causes, filled by the conversation and cause mechanisms
    assert (L["promises"] >= 0).all() and (L["promises_broken"] <= L["promises"]).all() and L["promises"].sum() > 0
    assert set(L["cause"]) <= {*CAUSES, "none"}
    assert ((L["cause"] != "none") == (L["day_dpd30"] >= 0)).all()  # a cause exactly when 30+ DPD was reached
    # segments: ranks of everyone in the market
    p = m.people
    q = L.groupby("income_quintile")["person"].apply(lambda s: p.income[s.to_numpy()].mean())
    assert list(q.index) == [1, 2, 3, 4, 5] and q.is_monotonic_increasing
    assert set(L["literacy_tercile"]) == {1, 2, 3}
    assert set(L["age_band"]) <= set(metrics.AGE_BANDS)
    young = L["age_band"] == "18-24"
    assert (p.age[L.loc[young, "person"].to_numpy()] < 25).all()


def test_age_is_drawn_without_moving_any_other_draw():
    m = sim.CreditModel(scenario="baseline", borrowers=2000, days=10, rng=9)
    assert (m.people.age >= 18).all() and 25 < m.people.age.mean() < 40
    # the day-0 book comes from the population stream after every trait: unchanged by age
    m2 = sim.CreditModel(scenario="baseline", borrowers=2000, days=10, rng=9)
    assert np.array_equal(m.people.has_loan, m2.people.has_loan) and np.array_equal(m.people.age, m2.people.age)


# --------------------------------------------------------------------------- roll-rate matrix


def test_roll_matrix_counts_the_watched_month_end_transitions():
    m = sim.CreditModel(scenario="baseline", borrowers=1500, days=200, rng=3,
                        overrides={"simulation.burn_in": 20, "shocks.job_loss_rate": 0.6})
    state = {}  # loan id -> bucket at the last month-end
    expect = {}
    ended = {}
    while m.running:
        before = {int(lid): int(i) for i, lid in zip(np.flatnonzero(m.people.has_loan),
                                                      m.people.loan_id[m.people.has_loan])}
        m.step()
        p = m.people
        now = {int(lid): int(i) for i, lid in zip(np.flatnonzero(p.has_loan), p.loan_id[p.has_loan])}
        for lid, i in before.items():
            if lid not in now:
                ended[lid] = "charged_off" if p.banned[i] else "repaid"
        if m.day >= m.t0 and (m.day - m.t0) % 30 == 0:
            def bucket(d):
                return "current" if d == 0 else "1-29" if d < 30 else "30-59" if d < 60 else "60-89" if d < 90 \
                    else "90-119"
            for lid, frm in state.items():
                to = bucket(int(p.dpd[now[lid]])) if lid in now else ended[lid]
                expect[(frm, to)] = expect.get((frm, to), 0) + 1
            state = {lid: bucket(int(p.dpd[i])) for lid, i in now.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        s = m.summary()
    R = metrics.roll_matrix(m)
    assert len(R) == len(ROLL_FROM) * len(ROLL_TO)
    got = {(r["from"], r["to"]): r["count"] for _, r in R.iterrows() if r["count"]}
    assert got == expect
    assert sum(v for (f, t), v in expect.items() if f == "30-59") > 10
    row = R[R["from"] == "30-59"]
    assert row["share"].sum() == pytest.approx(1.0)
    assert s["roll_30_60"] == pytest.approx(expect.get(("30-59", "60-89"), 0) / row["count"].sum())
    assert s["cure_1_29"] == pytest.approx(
        expect.get(("1-29", "current"), 0) / sum(v for (f, t), v in expect.items() if f == "1-29"))
    assert R.loc[(R["from"] == "current") & (R["to"] == "60-89"), "count"].item() == 0  # no jumping a month


# --------------------------------------------------------------------------- vintages


def test_pooled_vintage_never_decreases_where_plain_pooling_would():
    # cohort 0 (100 loans) observed two months, cohort 1 (100 loans) one month with an early default
    table = pd.DataFrame({"cohort": [0, 0, 1], "months_on_book": [0, 1, 0], "loans": [100, 100, 100],
                          "charged_off": [0.0, 0.01, 0.10]})
    pooled = metrics.pooled_vintage(table)
    assert pooled["charged_off"].tolist() == pytest.approx([0.05, 0.06])  # plainly pooled: 0.05, then 0.01
    assert pooled["cohorts"].tolist() == [2, 1]


def test_pooled_vintage_curves_of_a_run_never_decrease():
    r = _run_quietly("recession", borrowers=3000, days=400, seed=4, overrides={"simulation.burn_in": 30})
    v = metrics.pooled_vintage(r.vintages)
    assert len(v) >= 10
    assert (np.diff(v["charged_off"].to_numpy()) >= 0).all()
    assert v["charged_off"].iloc[-1] > 0


# --------------------------------------------------------------------------- segments and persistence


def test_late_again_ratio_on_a_constructed_table():
    # person A: a 30+ loan before the window, then one 30+ and one not; B: one not, then one 30+; C: one not
    t = pd.DataFrame({
        "loan_id": [1, 2, 3, 4, 5, 6],
        "person": [0, 0, 0, 1, 1, 2],
        "orig_day": [5, 100, 200, 50, 120, 150],
        "day_dpd30": [40, 160, -1, -1, 180, -1],
    })
    # window from day 10: loans 2..6. History: loans 2 and 3 (A's loan 1 reached 30); P = 1/2.
    # No history: 4, 5, 6 (B's loan 4 never reached 30); P = 1/3.
    assert metrics.late_again(t, 10) == pytest.approx((1 / 2) / (1 / 3))
    with pytest.warns(UndefinedMetricWarning, match="late_again_ratio"):
        assert np.isnan(metrics.late_again(t[t["person"] == 2], 10))


def test_segments_one_run_and_over_replicates(tmp_path):
    r = _run_quietly("flexible_plans", borrowers=1500, days=200, seed=6, overrides={"simulation.burn_in": 30})
    for by in SEGMENTS:
        tab = analysis.segment_table(r.loans, by)
        inw = r.loans[r.loans["in_window"]]
        assert tab["loans"].sum() == len(inw)
        assert set(tab["segment"]) == set(inw[by])
        co = (inw["outcome"] == "charged_off").groupby(inw[by]).mean()
        assert tab.set_index("segment")["default_rate"].to_dict() == pytest.approx(co.to_dict())
    with pytest.raises(analysis.ResultsError, match="income_quintile"):
        analysis.segment_table(r.loans, "shoe_size")

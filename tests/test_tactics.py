"""Collection tactics as components: the pipeline, regulation, and each tactic on its own."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import sim
from sim import docs, metrics
from sim.params import Scenario
from sim.state import CYCLE
from sim.tactics import DEFAULT, registry
from sim.tactics.pipeline import contact

from support import free_row, give_loan

CREDSIM = Path(sys.executable).with_name("credsim")


def with_tactics(*extra, drop=()):
    return [t for t in registry() if (t in DEFAULT or t in extra) and t not in drop]


# ---- the registry generates the parameter tree, the summary keys and the docs --------------------

def test_every_tactic_has_its_section_summary_keys_and_docs_row():
    defaults = Scenario()
    table = docs.tactics_table()
    for name, cls in registry().items():
        assert isinstance(getattr(defaults.collection, name), cls.Params)
        for counter in cls.counters:
            assert counter in metrics.SUMMARY_KEYS
        assert f"| `{name}` | `{cls.__module__}` |" in table
    assert list(defaults.collection.tactics) == list(DEFAULT)


def test_counters_are_measured_over_the_window():
    m = sim.CreditModel(scenario="debt_sale", borrowers=3000, days=300, rng=2, overrides={"simulation.burn_in": 400})
    while m.running:
        m.step()
    in_window, ever = m.summary()["debts_sold"], int(m.people.debt_sold.sum())
    assert 0 < in_window < ever  # debts sold during the burn-in are not in the summary


# ---- regulation: caps hold for every borrower in every window, over randomised scenarios -----------

ladders = st.lists(st.tuples(st.integers(-5, 60), st.sampled_from(["sms", "phone"])), min_size=1, max_size=8,
                   unique_by=lambda s: s[0])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(ladder=[(0, "phone"), (30, "phone")], max_calls=1, window=1, quiet=0, capacity=5.0, answer=0.0, seed=0)
@given(ladder=ladders, max_calls=st.integers(1, 7), window=st.integers(1, 14), quiet=st.integers(0, 10),
       capacity=st.sampled_from([5.0, 60.0, 1000.0]), answer=st.floats(0.0, 1.0), seed=st.integers(0, 50))
def test_no_borrower_gets_more_calls_than_the_cap_in_any_window(ladder, max_calls, window, quiet, capacity, answer, seed):
    over = {"simulation.burn_in": 0, "regulation.call_cap": True, "regulation.max_calls": max_calls,
            "regulation.cap_window_days": window, "regulation.quiet_days": quiet,
            "collection.reminders.schedule": [{"day": d, "channel": c} for d, c in ladder],
            "collection.reminders.phone_capacity": capacity, "collection.reminders.answer_rate": answer}
    m = sim.CreditModel(scenario="baseline", borrowers=400, days=150, rng=seed, overrides=over)
    m.contact_log = []
    for _ in range(150):
        m.step()
    calls, talks = defaultdict(list), defaultdict(list)
    for t, ch, attempted, talked in m.contact_log:
        if ch == "phone":
            for i in attempted.tolist():
                calls[i].append(t)
            for i in talked.tolist():
                talks[i].append(t)
    for i, days in calls.items():
        days = np.sort(days)
        # any `window` consecutive days hold at most max_calls attempts
        counts = np.searchsorted(days, days + window, side="left") - np.arange(len(days))
        assert counts.max() <= max_calls, (i, days.tolist())
        for c in talks.get(i, []):
            assert not np.any((days > c) & (days <= c + quiet)), (i, c, days.tolist())
    s = m.contact_history.breaches
    assert s["call_cap"] == 0 and s["quiet_period"] == 0


def test_rungs_thirty_days_apart_contact_a_loan_once_a_day():
    """Rungs at 0 and 30 days past due (and 30 and 60) both target a loan at 30 (60) DPD: one contact
    a day per channel, with no rule in force to hide a double."""
    ladder = [{"day": d, "channel": c} for d in (0, 30, 60) for c in ("sms", "phone")]
    m = sim.CreditModel(scenario="baseline", borrowers=1500, days=240, rng=5,
                        overrides={"simulation.burn_in": 0, "collection.reminders.schedule": ladder,
                                   "collection.reminders.phone_capacity": 1000.0})
    m.contact_log = []
    for _ in range(240):
        m.step()
    assert sum(len(a) for _, ch, a, _ in m.contact_log if ch == "phone") > 100
    for t, ch, attempted, _ in m.contact_log:  # (before one contact a day, a loan at 30 DPD had two)
        assert len(np.unique(attempted)) == len(attempted), (t, ch)


def test_a_rule_not_in_force_counts_its_breaches_and_in_force_prevents_them():
    kw = dict(borrowers=3000, days=300, seed=4, overrides={"simulation.burn_in": 100, "regulation.max_calls": 1,
                                                           "regulation.cap_window_days": 7})
    free = sim.run("baseline", **kw).summary
    capped = sim.run("baseline", **{**kw, "overrides": {**kw["overrides"], "regulation.call_cap": True}}).summary
    assert free["breaches_call_cap"] > 0 and free["max_calls_7d"] >= 2
    assert capped["breaches_call_cap"] == 0 and capped["breaches_quiet_period"] == 0
    assert capped["calls"] < free["calls"]


def test_a_visit_ban_stops_every_visit_and_the_queue_grows(model_factory):
    m = model_factory(**{"regulation.visit_ban": True})
    for _ in range(200):
        m.step()
    assert m.lender.books.visits_attempted == 0 and m.visit_queue > 0
    assert m.contact_history.breaches["visit_ban"] == 0
    free = model_factory()
    for _ in range(200):
        free.step()
    assert free.contact_history.breaches["visit_ban"] == free.lender.books.visits_attempted > 0


# ---- the pipeline -------------------------------------------------------------------------------

def test_capacity_goes_to_the_tactics_order_unless_risk_based_gives_its_own(model_factory):
    for tactics, expect_first in ((with_tactics(), "deeper"), (with_tactics("risk_based"), "riskier")):
        m = model_factory(**{"collection.tactics": tactics, "collection.reminders.answer_rate": 0.0})
        a, b = free_row(m), free_row(m) + 1
        for i in (a, b):
            give_loan(m, i)
            m.people.amount_due[i] = 300.0
        m.people.dpd[a], m.people.dpd[b] = 40, 20  # a is deeper...
        m.people.promises_broken[b] = 6  # ...but b broke six promises
        ch = m.tactics["reminders"].channels()["phone"]
        idx = np.array([a, b])
        done = contact(m, m.day, ch, idx, capacity=1, key=-m.people.dpd[idx])
        assert done.attempted.tolist() == ([a] if expect_first == "deeper" else [b])


def test_unanswered_calls_send_a_collector_when_asked(model_factory):
    m = model_factory(**{"collection.visits.after_unanswered_calls": 3, "collection.visits.capacity": 0.0})
    i = give_loan(m, free_row(m))
    m.people.amount_due[i], m.people.dpd[i] = 300.0, 12  # far from the 30 DPD of the visit queue
    m.prev_delinquent = np.array([i])
    m.contact_history.missed_calls[i] = 2
    m.tactics["visits"].collect(m.day)
    assert m.people.queued_since[i] < 0
    m.contact_history.missed_calls[i] = 3
    m.tactics["visits"].collect(m.day)
    assert m.people.queued_since[i] == m.day


# ---- each new tactic on its own -----------------------------------------------------------------

def test_debt_sale_books_the_price_and_hands_collection_to_the_buyer(model_factory):
    m = model_factory(**{"collection.tactics": with_tactics("debt_sale"), "collection.debt_sale.dpd": 150,
                         "collection.debt_sale.price": 0.1, "collection.debt_sale.buyer_pay_prob": 1.0,
                         "collection.recovery.pay_prob": 1.0})
    for _ in range(5):
        m.step()
    i = free_row(m)
    m.people.co_balance[i], m.people.banned[i] = 1000.0, True  # charged off today
    m.people.cash[i] = 1e6  # plenty left after the days of spending settled on pay day
    tac, books = m.tactics["debt_sale"], m.lender.books
    tac.recover(m.day)
    assert m.people.charge_off_day[i] == m.day and not m.people.debt_sold[i]
    proceeds, received = books.debt_sale_proceeds, books.received
    tac.recover(m.day + 29)  # not yet: 30 days after charge-off at 120 DPD is 150 DPD
    assert not m.people.debt_sold[i]
    tac.recover(m.day + 30)
    assert m.people.debt_sold[i]
    assert books.debt_sale_proceeds - proceeds == pytest.approx(0.1 * 1000.0)
    # on the next pay day the buyer, not the lender's agency, collects
    pay = m.day + 30 + (int(m.people.pay_offset[i]) - (m.day + 30)) % CYCLE
    m.tactics["recovery"].recover(pay)
    owed = m.people.co_balance[i]
    tac.recover(pay)
    assert m.people.co_balance[i] < owed  # paid the buyer
    assert books.received == received  # nothing reached the lender


def test_moratorium_defers_covered_loans_and_leaves_the_rest(model_factory):
    m = model_factory(**{"collection.tactics": with_tactics("moratorium"), "collection.moratorium.start_day": 3,
                         "collection.moratorium.take_up": 1.0, "collection.moratorium.months": 2})
    for _ in range(2):
        m.step()
    a, b = np.flatnonzero(~m.people.has_loan & ~m.people.banned)[:2]
    give_loan(m, a, next_due=m.day + 10)
    give_loan(m, b, next_due=m.day + 10)
    m.people.amount_due[a], m.people.dpd[a] = 300.0, 20  # covered: up to 29 DPD
    m.people.amount_due[b], m.people.dpd[b] = 300.0, 45  # not covered
    bal = m.people.balance[a]
    m.tactics["moratorium"].collect(m.day + 1)
    assert m.people.dpd[a] == 0 and m.people.amount_due[a] == 0.0
    assert m.people.next_due[a] == m.day + 10 + 2 * CYCLE
    assert m.people.balance[a] == bal and m.people.instalment[a] == pytest.approx(bal / 6)  # arrears folded in
    assert m.people.dpd[b] == 45 and m.people.next_due[b] == m.day + 10
    assert m.tactics["moratorium"].counts["moratorium_loans"] == int(m.people.has_loan.sum() - (m.people.dpd > 29).sum())


# ---- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("body, key, says", [
    ('[collection]\ntactics = ["reminders", "nope"]\n', "collection.tactics", "unknown tactic 'nope'"),
    ('[collection]\ntactics = ["reminders", "visits", "reminders"]\n', "collection.tactics", "listed twice"),
    ('[collection]\ntactics = ["debt_sale"]\n[collection.debt_sale]\ndpd = 90\n', "collection.debt_sale.dpd",
     "only once charged off"),
    ('[regulation]\ncall_cap = true\nmax_calls = 0\n', "regulation.max_calls", "greater than or equal to 1"),
    ('[collection.visits]\nenabled = false\n', "collection.visits.enabled", "collection.tactics"),
])
def test_a_bad_tactic_list_or_rule_is_one_line_exit_2(tmp_path, body, key, says):
    f = tmp_path / "s.toml"
    f.write_text(body)
    out = tmp_path / "out"
    res = subprocess.run([str(CREDSIM), "run", str(f), "--borrowers", "100", "--days", "5", "--out", str(out)],
                         capture_output=True, text=True)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{f}: {key}: ") and says in lines[0], res.stderr
    assert not out.exists()


def test_money_counters_are_floats_even_when_they_never_moved():
    """A tactic's money counter that stayed at 0 was an int in that run's summary and a float in runs
    where it moved: the summaries of one sweep then had two Parquet schemas, and reading the folder at
    once (README's pandas recipe) failed. Every money counter is a float in every run."""
    import warnings

    import sim
    from sim.tactics import registry

    money = [k for cls in registry().values() for k, doc in cls.counters.items() if doc.endswith("(CU)")]
    assert {"settled_amount", "debt_sold_amount", "paid_to_buyer"} <= set(money)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sim.run("baseline", borrowers=200, days=10, seed=1, overrides={"simulation.burn_in": 0})
    assert all(isinstance(res.summary[k], float) for k in money), {k: res.summary[k] for k in money}

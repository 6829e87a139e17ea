"""State kept between days for speed gives exactly what computing it from scratch gives.

The IFRS 9 allowance is recomputed only for loans whose inputs changed (sim.accounting.Provisions),
and some per-person arrays are fields of shared record blocks (sim.state.People.PACKED). Both are
checked here against the plain computation: every loan's allowance against sim.accounting.ecl of
the whole book, and a whole run against the same run with every array a separate contiguous copy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sim
from sim import accounting
from sim.scenario import with_overrides
from sim.state import People

# every tactic that writes a loan's balance, fees or DPD outside sim.mechanisms.loans is switched on
ALL_WRITERS = {
    "simulation.burn_in": 0,
    "collection.tactics": ["reminders", "visits", "plans", "settlement", "promises", "moratorium", "recovery"],
    "collection.plans.on_call": True,
    "collection.moratorium.start_day": 40,
    "collection.settlement.min_dpd": 5,  # early enough to happen in a short run from a current book
    "collection.settlement.acceptance": 1.0,
}


def test_allowance_is_every_loans_ecl_each_day():
    m = sim.CreditModel(scenario="flexible_plans", borrowers=1500, days=150, rng=4, overrides=ALL_WRITERS)
    pv = m.params.lender.provisions
    for _ in range(150):
        m.step()
        full = accounting.ecl(m.people, pv)
        np.testing.assert_array_equal(m.lender.provisions.allowance, full)
        assert m.lender.books.provisions == float(full.sum())
    b = m.lender.books
    # the tactics did act on loans (otherwise this checks little)
    assert b.plans_accepted > 0 and b.settlements > 0 and m.tactics["moratorium"].counts["moratorium_loans"] > 0
    assert b.provisions == pytest.approx(b.provision_charged - b.provision_released - b.provision_used, rel=1e-9)


def test_a_changed_provisioning_parameter_reprices_the_whole_book():
    m = sim.CreditModel(scenario="baseline", borrowers=800, days=60, rng=2, overrides={"simulation.burn_in": 0})
    for _ in range(30):
        m.step()
    before = m.lender.books.provisions
    m.params = with_overrides(m.params, {"lender.provisions.pd_stage1": 2 * m.params.lender.provisions.pd_stage1})
    m.step()
    assert m.lender.books.provisions > 1.5 * before
    np.testing.assert_array_equal(m.lender.provisions.allowance, accounting.ecl(m.people, m.params.lender.provisions))


def _unpack(model) -> None:
    """Every packed array of the model's people replaced by a contiguous copy of itself."""
    for names in People.PACKED:
        for k in names:
            setattr(model.people, k, np.ascontiguousarray(getattr(model.people, k)).copy())


def test_packed_arrays_share_records_and_change_nothing():
    ppl = People(10)
    for names in People.PACKED:
        assert len({getattr(ppl, k).base is not None and id(getattr(ppl, k).base) for k in names}) == 1
    ppl.cash[3] = 7.5
    assert ppl.cash[3] == 7.5 and ppl.reserved[3] == 0.0  # fields of one record do not alias

    runs = []
    for unpack in (False, True):
        m = sim.CreditModel(scenario="improvement_package", borrowers=1200, days=120, rng=6,
                            overrides={"simulation.burn_in": 0})
        if unpack:
            _unpack(m)
            assert all(getattr(m.people, k).flags.c_contiguous for names in People.PACKED for k in names)
        for _ in range(120):
            m.step()
        runs.append((pd.DataFrame(m.datacollector.model_vars), m.people.cash.copy(), m.people.attention.copy()))
    pd.testing.assert_frame_equal(runs[0][0], runs[1][0], check_exact=True)
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    np.testing.assert_array_equal(runs[0][2], runs[1][2])

"""The lender's economics beyond cash: IFRS 9 expected-credit-loss provisions, operating cost,
cost of capital, and the value of business lost through trust.

Provisions (IFRS 9 Financial Instruments, section 5.5). Every open loan carries a loss allowance,
``ECL = PD(stage) x LGD x exposure``, where the exposure is the principal part of the balance plus
fees (the amount the lender would write off and claim), and the stage follows days past due:

* stage 1, performing (DPD < 30): a 12-month ECL, ``pd_stage1``;
* stage 2, a significant increase in credit risk (30..89 DPD, the standard's rebuttable 30-days-past-due
  presumption, 5.5.11): a lifetime ECL, ``pd_stage2``;
* stage 3, credit-impaired (90+ DPD): a lifetime ECL with ``pd_stage3`` near 1.

PDs and the LGD are assumptions (``lender.provisions``), not estimated from the run. The allowance is
recomputed at the end of each day (step 9, on the closing book: after charge-off and the day's
new loans). Per loan, a rise of its
allowance is a *charge*, a fall a *release* (cure to a lower stage, payments reducing the exposure,
repayment closing it). At charge-off the loan's allowance is *used* against the write-off (it leaves
the stock without passing through the P&L); the part of the write-off not provided for is a loss at
charge-off. So the impairment in the P&L over a period is ``write-offs + change in the allowance``,
and ``allowance = charged - released - used`` at every moment.

Operating cost accrues per open loan per day (``operating_cost`` per month x 12 / 365); the cost of
capital accrues on outstanding principal: ``capital_ratio x hurdle_rate / 365`` per day.

Business lost through trust: on each day an application clock is advanced (mechanisms.acquisition),
the expected applications at each person's own prior trust (``trust_prior``, the trust they start
with and drift back to) and at their actual trust are both added up, from the same formula
(``acquisition.rate``). Their difference, over the window, is the applications lost (gained, if
negative) through what the lender's conduct did to trust.
"""

from __future__ import annotations

import numpy as np

STAGE2_DPD = 30  #: IFRS 9 5.5.11: credit risk has increased significantly when payments are 30+ days past due
STAGE3_DPD = 90  #: credit-impaired: IFRS 9 B5.5.37 presumes default no later than 90 days past due


def exposure(ppl, idx=None) -> np.ndarray:
    """Exposure at default of every person's open loan (or of rows ``idx``): principal part of the
    balance plus fees (0 if none)."""
    rows = slice(None) if idx is None else idx
    return np.where(ppl.has_loan[rows], ppl.balance[rows] * ppl.principal_share[rows] + ppl.fees[rows], 0.0)


def stage(ppl, idx=None) -> np.ndarray:
    """IFRS 9 stage (1, 2, 3) of every person's open loan (or of rows ``idx``); 0 where there is none."""
    rows = slice(None) if idx is None else idx
    dpd = ppl.dpd[rows]
    s = np.where(dpd >= STAGE3_DPD, 3, np.where(dpd >= STAGE2_DPD, 2, 1))
    return np.where(ppl.has_loan[rows], s, 0).astype(np.int8)


def ecl(ppl, pv, idx=None) -> np.ndarray:
    """Expected credit loss of every open loan (or of rows ``idx``, CU): PD of its stage x LGD x exposure."""
    pd_by_stage = np.array([0.0, pv.pd_stage1, pv.pd_stage2, pv.pd_stage3])
    return pd_by_stage[stage(ppl, idx)] * pv.lgd * exposure(ppl, idx)


class Provisions:
    """The loss allowance, loan by loan (one row per person: the allowance of their open loan).

    :meth:`update` recomputes only the rows whose inputs to :func:`ecl` changed since its last call
    (the same formula row by row, so the allowance is exactly :func:`ecl` of everyone, as is each
    day's charge and release: a row whose inputs did not change has a zero delta)."""

    #: what ecl() reads of a person and is compared daily; the fifth input, ``principal_share``, is
    #: written only when a loan is opened (:func:`sim.mechanisms.loans.originate`), which reports the
    #: rows to :meth:`opened` instead (one whole-book comparison fewer a day)
    INPUTS = ("has_loan", "dpd", "balance", "fees")

    def __init__(self, n: int):
        self.allowance = np.zeros(n)
        self._seen = None  # the INPUTS when the allowance was last computed, and the parameters
        self._used = []  # rows whose allowance use() set aside since the last update
        self._opened = []  # rows given a new loan (a new principal share) since the last update

    def opened(self, idx) -> None:
        """Loans were opened on rows ``idx``: their allowance is recomputed at the next update."""
        self._opened.append(idx)

    def use(self, model, idx) -> None:
        """Loans ``idx`` are written off: their allowance is used against the write-off."""
        used = float(self.allowance[idx].sum())
        self.allowance[idx] = 0.0
        self._used.append(idx)
        books = model.lender.books
        books.provision_used += used
        books.provisions -= used

    def _changed(self, ppl, pv) -> np.ndarray | None:
        """Rows whose inputs changed since the last update (None: recompute everyone)."""
        key = (pv.pd_stage1, pv.pd_stage2, pv.pd_stage3, pv.lgd)
        if self._seen is None or self._seen[0] != key or len(self.allowance) != ppl.n:
            self._seen = (key, {name: getattr(ppl, name).copy() for name in self.INPUTS})
            return None
        seen = self._seen[1]
        changed = np.not_equal(ppl.balance, seen["balance"])
        for name in ("fees", "dpd", "has_loan"):
            changed |= np.not_equal(getattr(ppl, name), seen[name])
        for extra in self._used + self._opened:  # marked in the mask: the same sorted, unique rows
            changed[extra] = True  # as np.union1d, without its sort
        rows = changed.nonzero()[0]
        for name, old in seen.items():
            old[rows] = getattr(ppl, name)[rows]
        return rows

    def update(self, model) -> None:
        """Recompute the allowance of the loans whose stage or exposure changed: rises are charges,
        falls are releases."""
        ppl, pv = model.people, model.params.lender.provisions
        rows = self._changed(ppl, pv)
        self._used, self._opened = [], []
        books = model.lender.books
        if rows is None:
            new = ecl(ppl, pv)
            delta = new - self.allowance
            self.allowance = new
        else:
            new = ecl(ppl, pv, rows)
            delta = new - self.allowance[rows]  # every other row's delta is exactly zero
            self.allowance[rows] = new
        books.provision_charged += float(delta[delta > 0].sum())
        books.provision_released -= float(delta[delta < 0].sum())
        books.provisions = float(self.allowance.sum())


def accrue_costs(model, outstanding: float) -> None:
    """One day of operating cost (per open loan) and of the cost of the capital held against the
    principal ``outstanding`` (the sum funding cost accrues on, :func:`sim.mechanisms.loans.accrue_funding_cost`)."""
    ppl, lp, books = model.people, model.params.lender, model.lender.books
    books.operating_cost += int(np.count_nonzero(ppl.has_loan)) * lp.operating_cost * 12.0 / 365.0
    books.capital_cost += outstanding * lp.capital_ratio * lp.hurdle_rate / 365.0


def applications_at_prior(model, could, rate_now, elasticity, days) -> None:
    """Expected applications of the people ``could`` over the ``days`` of hazard their clocks advance
    by today (:func:`sim.mechanisms.acquisition.step`), at their prior trust and at their actual trust
    (``rate_now``, applications per day); ``elasticity`` is each one's trust elasticity."""
    if len(could) == 0:
        return
    acq = model.params.acquisition
    ratio = np.maximum(model.people.trust_prior[could], 1e-9) / acq.reference_trust
    rate_prior = acq.application_rate / 365.0 * np.exp(elasticity * np.log(ratio))
    books = model.lender.books
    books.expected_applications_prior += days * float(rate_prior.sum())
    books.expected_applications += days * float(rate_now.sum())


class Discounter:
    """The present value of the window's daily profit at ``lender.discount_rate`` per year:
    profit of window day k (k = 1, 2, ...) discounted by ``(1 + r) ** (-k / 365)``."""

    def __init__(self, model):
        self.t0 = model.t0
        self.rate = model.params.lender.discount_rate
        self.npv = 0.0
        self._last = None

    def observe(self, model) -> None:
        t, profit = model.day, model.lender.books.profit
        if t > self.t0 and self._last is not None:
            self.npv += (profit - self._last) * (1.0 + self.rate) ** (-(t - self.t0) / 365.0)
        if t >= self.t0:
            self._last = profit

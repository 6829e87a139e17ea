"""Credit-bureau reporting: the lender reports delinquencies and defaults, and a record costs credit.

* **Delinquency report.** After the day's payments (step 4), a loan that has reached ``report_dpd``
  days past due is reported to the credit bureau, once per loan. The borrower's file then carries a
  negative item until ``record_days`` after the delinquency began plus 180 days (US Fair Credit
  Reporting Act, 15 U.S.C. 1681c(a) and (c): seven years, counted from 180 days after the
  delinquency began).
* **Default report.** A loan charged off (step 6) is reported as a default. The borrower's other
  creditors see it and close their lines (once per person, for those who owe other creditors):
  the undrawn part of those lines, ``line_months`` of income that the model counts in the
  person's cash buffer, disappears (never more than the cash there is), and the closure costs
  stress (``closed_stress``). What they already owe the other creditors is still owed, so their
  instalments (``People.daily_other``) go on.
* **No new credit.** Underwriting checks the bureau: an applicant whose file carries a negative
  item is refused (``refuse_records``).
* **A cost weighed before it happens.** From ``notice_days`` before ``report_dpd`` until
  charge-off, a borrower who still has open credit elsewhere has something to lose: their
  willingness to pay (:func:`sim.mechanisms.repayment.willingness`) rises by ``weight`` times their
  understanding of the contract (someone who does not know that lateness is reported does not weigh
  it). Nothing is added when this tactic is not listed.
"""

from __future__ import annotations

import numpy as np

from ..mechanisms import spending
from ..paramtypes import P, Section
from ..state import CHARGED_OFF
from . import Tactic

#: FCRA 15 U.S.C. 1681c(c): the reporting period starts 180 days after the delinquency began
FCRA_START_DAYS = 180


class BureauParams(Section):
    report_dpd: int = P(60, "DPD", "Days past due at which the lender reports a loan to the credit bureau as delinquent (below loans.charge_off_dpd).", ge=1, le=719)
    record_days: int = P(2555, "days", "How long a negative item stays on the borrower's file, counted from 180 days after the delinquency began (FCRA 15 U.S.C. 1681c: seven years).", ge=0, le=36_500)
    refuse_records: bool = P(True, "flag", "Underwriting refuses applicants whose file carries a negative item.")
    notice_days: int = P(30, "days", "How long before report_dpd a borrower weighs the report (the lender's notice; FCRA 15 U.S.C. 1681s-2(a)(7)).", ge=0, le=719)
    weight: float = P(1.0, "logit per unit", "Rise in willingness to pay, per unit of contract understanding, of a borrower with open credit elsewhere whose loan is within notice_days of report_dpd or reported and not yet charged off (assumption).", ge=0, le=30)
    line_months: float = P(0.3, "months of income", "Undrawn revolving credit from other creditors, counted in the cash buffer of a person who owes other creditors, that a reported default closes (assumption).", ge=0, le=24)
    closed_stress: float = P(0.1, "0..1", "Stress from having one's other credit closed (assumption).", ge=0, le=1)


class Bureau(Tactic):
    name = "bureau"
    doc = "Credit-bureau reporting of delinquencies and defaults: a record closes other credit."
    Params = BureauParams
    rank = 80  # after the collect hooks that change DPD (moratorium), before debt sale and recovery
    counters = {
        "bureau_reports": "loans reported to the credit bureau as delinquent (at report_dpd) in the window",
        "bureau_defaults": "charged-off loans reported to the credit bureau as defaults in the window",
        "other_credit_closed": "borrowers whose other creditors closed their lines after a reported default in the window",
        "bureau_refused": "approved applicants refused by underwriting for a negative item on their file in the window",
    }
    state = {
        "reported_loan": (np.int64, -1),  # the loan id last reported delinquent (-1: none)
        "reported_day": (np.int32, -1),  # the day it was reported
        "record_until": (np.int32, -1),  # the file carries a negative item until this day
        "default_reported": (np.bool_, False),
        "credit_closed": (np.bool_, False),  # other creditors closed their lines
    }

    def __init__(self, model, active):
        super().__init__(model, active)
        self._ledger_mark = 0  # ledger chunks already looked at for charge-offs

    def after_payments(self, t) -> None:
        """Report loans that reached report_dpd today (DPD was just updated)."""
        ppl, p = self.model.people, self.p
        late = self.model.prev_delinquent
        new = late[(ppl.dpd[late] >= p.report_dpd) & (ppl.reported_loan[late] != ppl.loan_id[late])]
        if len(new) == 0:
            return
        ppl.reported_loan[new] = ppl.loan_id[new]
        ppl.reported_day[new] = t
        self._record(new, t - ppl.dpd[new])
        self.counts["bureau_reports"] += len(new)

    def recover(self, t) -> None:
        """Report today's charge-offs as defaults; other creditors close their lines."""
        m, p = self.model, self.p
        ppl, chunks = m.people, m.ledger.chunks
        fresh = chunks[self._ledger_mark:]
        self._ledger_mark = len(chunks)
        gone = [c["person"][(c["outcome"] == CHARGED_OFF) & (c["end_day"] == t)] for c in fresh]
        gone = np.concatenate(gone).astype(np.int64) if gone else np.zeros(0, np.int64)
        gone = gone[~ppl.default_reported[gone]]
        if len(gone) == 0:
            return
        ppl.default_reported[gone] = True
        self.counts["bureau_defaults"] += len(gone)
        self._record(gone, t - m.params.loans.charge_off_dpd)  # it began charge_off_dpd days ago
        close = gone[(ppl.other_dsti[gone] > 0.0) & ~ppl.credit_closed[gone]]
        if len(close) == 0:
            return
        ppl.credit_closed[close] = True
        self.counts["other_credit_closed"] += len(close)
        spending.settle(m, close, t)
        ppl.cash[close] -= np.minimum(p.line_months * ppl.income[close], np.maximum(ppl.cash[close], 0.0))
        m.experience(close, stress=p.closed_stress)

    def _record(self, idx, began) -> None:
        """The files of ``idx`` carry a negative item from a delinquency that began on day ``began``."""
        ppl = self.model.people
        until = began + FCRA_START_DAYS + self.p.record_days
        ppl.record_until[idx] = np.maximum(ppl.record_until[idx], until)

    def willingness(self, idx, t):
        """What a report puts at stake, for loans from notice_days before report_dpd until charge-off."""
        ppl, p = self.model.people, self.p
        dpd = ppl.dpd[idx]
        near = ppl.has_loan[idx] & (dpd >= p.report_dpd - p.notice_days) & (dpd < self.model.params.loans.charge_off_dpd)
        stake = near & (ppl.other_dsti[idx] > 0.0) & ~ppl.credit_closed[idx]
        return p.weight * ppl.understanding[idx] * stake

    def screen(self, idx, t):
        """Underwriting refuses applicants whose file carries a negative item."""
        if not self.p.refuse_records or len(idx) == 0:
            return idx
        flagged = self.model.people.record_until[idx] >= t
        self.counts["bureau_refused"] += int(flagged.sum())
        return idx[~flagged]


TACTIC = Bureau

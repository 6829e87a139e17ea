"""One person as a plain object: built on demand for inspection and for the app, never per day."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .state import POS


@dataclass(frozen=True)
class Borrower:
    id: int
    income: float
    employed: bool
    cash: float
    literacy: float
    present_bias: float
    stress: float
    trust: float
    has_loan: bool
    product: str | None
    balance: float
    instalment: float
    arrears: float
    fees: float
    dpd: int
    on_plan: bool
    charged_off_debt: float
    contacts: int

    @property
    def state(self) -> str:
        if not self.has_loan:
            return "charged off" if self.charged_off_debt > 0 else "no loan"
        if self.on_plan and self.dpd == 0:
            return "on plan"
        if self.dpd == 0:
            return "current"
        if self.dpd < 30:
            return "1-29 DPD"
        if self.dpd < 60:
            return "30-59 DPD"
        if self.dpd < 90:
            return "60-89 DPD"
        return "90+ DPD"

    def as_dict(self) -> dict:
        return {**asdict(self), "state": self.state}

    @classmethod
    def of(cls, model, i: int) -> "Borrower":
        p = model.people
        i = int(i)
        has = bool(p.has_loan[i])
        return cls(
            id=i,
            income=float(p.income[i]),
            employed=bool(p.employed[i]),
            cash=float(p.cash[i] + p.reserved[i]),
            literacy=float(p.literacy[i]),
            present_bias=float(p.present_bias[i]),
            stress=float(p.stress[i]),
            trust=float(p.trust[i]),
            has_loan=has,
            product=("point of sale" if p.product[i] == POS else "cash") if has else None,
            balance=float(p.balance[i]),
            instalment=float(p.instalment[i]),
            arrears=float(p.amount_due[i]),
            fees=float(p.fees[i]),
            dpd=int(p.dpd[i]),
            on_plan=bool(p.on_plan[i]),
            charged_off_debt=float(p.co_balance[i]),
            contacts=int(p.contacts[i]),
        )

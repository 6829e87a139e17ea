"""The lender: a Mesa agent that owns the books and runs the collection engine."""

from __future__ import annotations

from dataclasses import dataclass, fields

import mesa

from . import collectors
from . import accounting
from .mechanisms import loans


@dataclass
class Books:
    """The lender's cumulative accounts (CU) and activity counts since day 0."""

    disbursed: float = 0.0
    received: float = 0.0  # every payment from borrowers, before charge-off and after
    principal_repaid: float = 0.0
    interest_income: float = 0.0
    fee_income: float = 0.0
    fees_waived: float = 0.0
    credit_loss: float = 0.0  # principal written off at charge-off
    settlement_discount: float = 0.0  # principal forgiven when loans close by settlement
    recoveries: float = 0.0
    debt_sale_proceeds: float = 0.0  # charged-off debt sold to a debt buyer
    sms_cost: float = 0.0
    phone_cost: float = 0.0
    visit_cost: float = 0.0
    plan_cost: float = 0.0
    recovery_cost: float = 0.0
    incentive_pay: float = 0.0  # collectors' pay tied to amounts collected on promises (sim/collectors.py)
    education_cost: float = 0.0
    origination_cost: float = 0.0
    funding_cost: float = 0.0
    operating_cost: float = 0.0  # servicing open loans (accounting.accrue_costs)
    capital_cost: float = 0.0  # capital held against outstanding principal x hurdle rate
    provisions: float = 0.0  # the IFRS 9 loss allowance now (a stock, not a flow; accounting.Provisions)
    provision_charged: float = 0.0  # rises of loans' allowances
    provision_released: float = 0.0  # falls of loans' allowances (cure, payments, repayment)
    provision_used: float = 0.0  # allowances used against write-offs at charge-off
    expected_applications: float = 0.0  # expected applications at people's actual trust
    expected_applications_prior: float = 0.0  # the same at their prior trust (accounting.applications_at_prior)
    sms: int = 0
    calls: int = 0
    visits_attempted: int = 0
    visits_completed: int = 0
    plans_offered: int = 0
    plans_accepted: int = 0
    plans_broken: int = 0
    settlements: int = 0  # loans closed by settlement
    family_help: float = 0.0  # money borrowers raised from family and friends in conversations (CU)
    calls_answered: int = 0
    conversations: int = 0  # answered calls and visits that met the borrower
    promises: int = 0
    promises_kept: int = 0
    promises_broken: int = 0
    dunning_contacts: int = 0  # SMS, calls and completed visits to loans past due
    instalments_due: int = 0  # instalments that fell due on loans current at the time
    early_contacts: int = 0
    complaints: int = 0
    negative_stories: int = 0
    applications: int = 0
    originations: int = 0  # new loans booked during the run
    initial_loans: int = 0  # the starting book on day 0
    charge_offs: int = 0
    repaid_loans: int = 0
    delinquency_episodes: int = 0
    cures: int = 0
    ever_delinquent_loans: int = 0

    @property
    def collection_cost(self) -> float:
        return (self.sms_cost + self.phone_cost + self.visit_cost + self.plan_cost + self.recovery_cost
                + self.incentive_pay)

    @property
    def dunning_cost(self) -> float:
        """Collection cost before charge-off: SMS, calls, visits, plan set-up and collectors' incentive pay."""
        return self.sms_cost + self.phone_cost + self.visit_cost + self.plan_cost + self.incentive_pay

    @property
    def recoveries_net(self) -> float:
        """Paid on charged-off debt, net of the recovery agency's cost."""
        return self.recoveries - self.recovery_cost

    @property
    def impairment(self) -> float:
        """Credit loss in the P&L: write-offs plus the change in the allowance since day 0 (the
        allowance used at charge-off covers part of the write-off)."""
        return self.credit_loss + self.provisions

    @property
    def profit(self) -> float:
        """Profit after provisions: income, net recoveries and debt sales less impairment and every cost."""
        return (
            self.interest_income
            + self.fee_income
            + self.recoveries_net
            + self.debt_sale_proceeds
            - self.impairment
            - self.dunning_cost
            - self.settlement_discount
            - self.education_cost
            - self.origination_cost
            - self.funding_cost
            - self.operating_cost
            - self.capital_cost
        )

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class Lender(mesa.Agent):
    """Underwrites, books payments and collects, within its daily capacity."""

    def __init__(self, model):
        super().__init__(model)
        self.books = Books()
        self.provisions = accounting.Provisions(model.params.population.borrowers)
        p = model.params
        self.call_capacity = collectors.capacity(p, "call")  # headcount x calls per agent (sim/collectors.py)
        self.visit_capacity = collectors.capacity(p, "field")

    def step(self) -> None:
        """Step 6 of the day: the strategy's tactics collect (sim/tactics, in their order), charge-off,
        then the tactics that act on charged-off debt; funding, operating and capital costs accrue
        (sim/accounting.py; the IFRS 9 allowance is recomputed at step 9)."""
        m, t = self.model, self.model.day
        m.tactics.run("collect", t)
        loans.charge_off(m, t)
        m.tactics.run("recover", t)
        outstanding = loans.accrue_funding_cost(m, t)
        accounting.accrue_costs(m, outstanding)

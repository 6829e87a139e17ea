"""The lender: a Mesa agent that owns the books and runs the collection engine."""

from __future__ import annotations

from dataclasses import dataclass, fields

import mesa

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
    education_cost: float = 0.0
    origination_cost: float = 0.0
    funding_cost: float = 0.0
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
        return self.sms_cost + self.phone_cost + self.visit_cost + self.plan_cost + self.recovery_cost

    @property
    def profit(self) -> float:
        return (
            self.interest_income
            + self.fee_income
            + self.recoveries
            + self.debt_sale_proceeds
            - self.credit_loss
            - self.settlement_discount
            - self.collection_cost
            - self.education_cost
            - self.origination_cost
            - self.funding_cost
        )

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class Lender(mesa.Agent):
    """Underwrites, books payments and collects, within its daily capacity."""

    def __init__(self, model):
        super().__init__(model)
        self.books = Books()
        p = model.params
        per_thousand = p.population.borrowers / 1000.0
        self.call_capacity = int(min(round(p.collection.reminders.phone_capacity * per_thousand), 2**62))
        self.visit_capacity = int(min(round(p.collection.visits.capacity * per_thousand), 2**62))

    def step(self) -> None:
        """Step 6 of the day: the strategy's tactics collect (sim/tactics, in their order), charge-off,
        then the tactics that act on charged-off debt."""
        m, t = self.model, self.model.day
        m.tactics.run("collect", t)
        loans.charge_off(m, t)
        m.tactics.run("recover", t)
        loans.accrue_funding_cost(m, t)

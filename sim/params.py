"""Every parameter of the model: its unit, its default and its meaning, stated once.

A scenario file is a partial copy of this tree: whatever it does not set keeps the default below.
docs/ODD.md carries a table generated from these declarations (``python -m sim.docs``), and a test
checks that the two agree.

Conventions
-----------
* Time is in days; "monthly" amounts are per 30-day cycle (pay and instalments come every 30 days).
* Money is in currency units (CU); income-relative amounts say so (``months`` of income).
* Probabilities are per event unless the unit says "per year" or "per day".
* Parameters marked *assumption* lack direct evidence; sensitivity analysis should vary them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, create_model, field_validator, model_validator

from .paramtypes import P, Prob, Section, section  # noqa: F401  (re-exported)
from .tactics import DEFAULT as DEFAULT_TACTICS
from .tactics import registry as tactic_registry


class Population(Section):
    borrowers: int = P(10_000, "people", "People in the simulated market (borrowers and prospects).", ge=10, le=20_000_000)
    initial_loan_share: float = P(0.3, "share", "Share of people holding a loan on day 0 (a seasoned, current book).", ge=0, le=1)
    income_median: float = P(4_000.0, "CU/month", "Median monthly income when employed.", ge=1, le=1e7)
    income_sigma: float = P(0.45, "log-sd", "Dispersion of monthly income across people (log-normal).", ge=0, le=2)
    income_volatility: float = P(0.12, "log-sd", "Month-to-month variation of a salaried person's pay.", ge=0, le=1)
    informal_share: float = P(0.3, "share", "People with irregular income (informal work, commissions).", ge=0, le=1)
    informal_volatility: float = P(0.25, "log-sd", "Month-to-month variation of an irregular earner's pay.", ge=0, le=1.5)
    other_debt_share: float = P(0.3, "share", "People who also owe instalments to other creditors.", ge=0, le=1)
    other_dsti_mean: float = P(0.2, "share of income", "Mean debt service to other creditors, among those who have some.", ge=0, le=0.9)
    other_dsti_concentration: float = P(5.0, "beta concentration", "Spread of that debt service across people (lower: wider).", ge=0.5, le=1000)
    other_priority: float = P(0.5, "share", "Borrowers who pay other creditors before this lender (the rest put this loan first).", ge=0, le=1)
    savings_months: float = P(0.4, "months of income", "Median starting cash buffer.", ge=0, le=24)
    subsistence_share: float = P(0.45, "share of income", "Spending on necessities, paid every day whatever happens.", ge=0, le=1)
    habit_share: float = P(0.6, "share of what is left", "Habitual discretionary spending ('consumption upgrade'), as a share of income left after necessities and other creditors' instalments.", ge=0, le=1)
    impulse_rate: float = P(1.0, "per month", "Rate of impulse purchases of a person with average present bias.", ge=0, le=30)
    impulse_size: float = P(0.25, "share of free cash", "Size of one impulse purchase.", ge=0, le=1)
    present_bias_mean: float = P(0.35, "0..1", "Mean present bias (0 patient, 1 lives for today).", ge=0.01, le=0.99)
    literacy_mean: float = P(0.45, "0..1", "Mean financial literacy.", ge=0.01, le=0.99)
    understanding_gap: float = P(0.15, "0..1", "How far contract understanding falls short of literacy on average.", ge=0, le=1)
    address_unverifiable: float = P(0.12, "share", "People whose address a field visit cannot verify.", ge=0, le=1)
    age_mean: float = P(29.0, "years", "Mean age of people in the market (18 + a gamma with shape 2).", ge=19, le=70)
    places: int = P(40, "places", "Towns or districts; people mostly know people from their own.", ge=1, le=100_000)
    network_degree: int = P(8, "ties", "Social ties per person (word of mouth); no self-ties.", ge=0, le=100)
    homophily: float = P(0.8, "share", "Share of ties to people like oneself (same place, similar age and income); the rest are random.", ge=0, le=1)


class Shocks(Section):
    job_loss_rate: float = P(0.12, "per year", "Hazard of losing one's job while employed (normal times).", ge=0, le=5)
    unemployment_months: float = P(3.0, "months", "Mean length of an unemployment spell.", gt=0, le=60)
    benefit_share: float = P(0.5, "share of income", "Mean income while unemployed (benefits, family help), relative to usual pay.", ge=0.01, le=0.99)
    benefit_concentration: float = P(3.0, "beta concentration", "Spread of that support across people (lower: wider; some have family to fall back on, some nothing).", ge=0.5, le=1000)
    emergency_rate: float = P(0.5, "per year", "Rate of family emergencies and illness (normal times).", ge=0, le=12)
    emergency_cost_months: float = P(1.0, "months of income", "Mean cost of one emergency (exponential).", ge=0, le=24)


class Recession(Section):
    enabled: bool = P(False, "flag", "Apply the recession timeline.")
    start_day: int = P(180, "day", "Day the recession starts to bite, counted from the start of the measurement window (after simulation.burn_in).", ge=0, le=36_500)
    onset_days: int = P(60, "days", "Days from start to full severity (linear).", ge=0, le=36_500)
    peak_days: int = P(240, "days", "Days at full severity.", ge=0, le=36_500)
    easing_days: int = P(240, "days", "Days from full severity back to normal (linear).", ge=0, le=36_500)
    severity: float = P(1.0, "0..2", "Scales the multipliers below: 0 none, 1 as given.", ge=0, le=2)
    job_loss_multiplier: float = P(3.0, "x", "Job-loss hazard at full severity, relative to normal.", ge=1, le=20)
    emergency_multiplier: float = P(1.5, "x", "Emergency rate at full severity, relative to normal.", ge=1, le=20)
    reemployment_multiplier: float = P(0.6, "x", "Re-employment hazard at full severity (below 1: slower).", gt=0, le=1)


class Macro(Section):
    recession: Recession = section(Recession, "A recession: shock rates raised for a period, then easing.")


class Product(Section):
    share: float = P(0.5, "share", "Share of new loans of this product.", ge=0, le=1)
    principal_months: float = P(1.0, "months of income", "Median principal relative to the borrower's income.", gt=0, le=24)
    term_months: int = P(9, "months", "Number of monthly instalments.", ge=1, le=60)
    annual_rate: float = P(0.2, "per year", "Nominal interest rate (annuity schedule).", ge=0, le=2)


def _cash() -> Product:
    return Product(share=0.5, principal_months=1.2, term_months=12, annual_rate=0.30)


def _pos() -> Product:
    return Product(share=0.5, principal_months=0.8, term_months=9, annual_rate=0.12)


class Products(Section):
    cash: Product = Field(default_factory=_cash, description="Cash loans.")
    pos: Product = Field(default_factory=_pos, description="Point-of-sale instalment loans.")

    @model_validator(mode="after")
    def _shares(self) -> "Products":
        if abs(self.cash.share + self.pos.share - 1.0) > 1e-6:
            raise ValueError("cash.share + pos.share must equal 1")
        return self


class Loans(Section):
    late_fee_share: float = P(0.05, "share of instalment", "Late fee charged once per missed instalment, at fee_dpd.", ge=0, le=1)
    due_after_pay: int = P(7, "days", "Due dates are set up to this many days after the borrower's pay day.", ge=0, le=29)
    fee_dpd: int = P(3, "DPD", "Days past due at which a missed instalment incurs the late fee.", ge=1, le=60)
    charge_off_dpd: int = P(120, "DPD", "Days past due at which a loan is charged off (regulatory loss: 120 for instalment loans).", ge=30, le=720)


class Repayment(Section):
    intercept: float = P(3.7, "logit", "Baseline willingness to pay of an average borrower who can pay.", ge=-30, le=30)
    attention_weight: float = P(4.0, "logit per unit", "Effect of attention to the loan on willingness (assumption).", ge=-30, le=30)
    literacy_weight: float = P(1.0, "logit per unit", "Effect of financial literacy on willingness.", ge=-30, le=30)
    understanding_weight: float = P(1.0, "logit per unit", "Effect of understanding what lateness costs.", ge=-30, le=30)
    present_bias_weight: float = P(2.0, "logit per unit", "Effect of present bias against paying now.", ge=-30, le=30)
    stress_weight: float = P(0.6, "logit per unit", "Stress makes people avoid the problem (assumption).", ge=-30, le=30)
    trust_weight: float = P(0.8, "logit per unit", "Trust in the lender raises willingness (assumption).", ge=-30, le=30)
    pressure_weight: float = P(1.2, "logit per unit", "Effect of recent collection pressure (assumption).", ge=-30, le=30)
    willingness_sd: float = P(2.0, "logit", "Spread of a lasting personal effect on willingness (won't-pay types at the low end).", ge=0, le=5)
    pressure_priority: float = P(0.6, "0..1", "Share of the money kept back for other creditors that full collection pressure redirects to this lender (assumption).", ge=0, le=1)
    family_help: float = P(0.3, "probability", "Chance that a borrower short of cash, under full collection pressure in a conversation, raises money from family and friends (scaled by felt pressure; assumption).", ge=0, le=1)
    family_help_months: float = P(0.3, "months of income", "Most that family and friends can put up at once.", ge=0, le=12)
    reconsider_message: float = P(0.25, "probability", "Chance a one-way message (SMS, unanswered call) makes a borrower who is behind reconsider paying the next day (assumption).", ge=0, le=1)
    hope_intercept: float = P(-2.0, "logit", "Tendency of a borrower who cannot pay everything owed to pay nothing and hope things improve (assumption).", ge=-10, le=10)
    hope_stress_weight: float = P(3.0, "logit per unit", "Stress makes stopping and hoping likelier (assumption).", ge=0, le=20)
    avoid_stress: float = P(1.0, "per unit", "Avoidance of the lender grows with stress: 1 - exp(-(this x stress + avoid_contacts x recent contacts)).", ge=0, le=20)
    avoid_contacts: float = P(0.15, "per contact", "Avoidance grows with recent contacts (decaying with contact_halflife).", ge=0, le=5)
    contact_halflife: float = P(14.0, "days", "Half-life of the memory of recent contacts.", ge=1, le=3650)
    attention_halflife: float = P(12.0, "days", "Half-life of attention to the loan; a reminder restores it.", ge=1, le=3650)
    attention_floor: float = P(0.1, "0..1", "Attention never decays below this (assumption).", ge=0, le=1)
    pressure_halflife: float = P(14.0, "days", "Half-life of felt collection pressure.", ge=1, le=3650)
    earmark_weight: float = P(1.0, "0..1", "How strongly planners set aside the next instalment on pay day.", ge=0, le=1)


class EarlyContact(Section):
    channel: bool = P(False, "flag", "The lender runs an early-contact (hardship) channel and advertises it.")
    base_prob: float = P(0.03, "per cycle", "Chance a borrower who foresees a shortfall calls without a channel.", ge=0, le=1)
    channel_prob: float = P(0.35, "per cycle", "Chance with the channel, for a literate, trusting borrower.", ge=0, le=1)
    horizon_days: int = P(7, "days", "How far ahead of a due date a shortfall is foreseen.", ge=1, le=29)


class Tone(Section):
    harshness: float = P(0.8, "0..1", "Collector tone: 0 trained and empathetic, 0.5 neutral, 1 harsh (assumption scale).", ge=0, le=1)
    pressure_bonus: float = P(0.4, "share", "Extra pressure a harsh collector applies, times harshness (assumption).", ge=0, le=2)
    diagnoses_hardship: float = P(0.9, "probability", "Chance an empathetic collector learns the real reason (scaled by 1 - harshness).", ge=0, le=1)
    skill: float = P(0.0, "logit", "Mean skill of the collectors (training): it shifts the log-odds that a conversation gets a promise to pay and learns of hardship; 0 is the collector the channel parameters describe (assumption).", ge=-3, le=3)


class Collectors(Section):
    call_agents: float | None = P(None, "agents", "Call agents the lender employs; the call centre makes call_agents x calls_per_agent calls a day. Unset: as many as collection.reminders.phone_capacity needs.", ge=0, le=1e6)
    calls_per_agent: int = P(60, "calls/day", "Calls one call agent makes a day (assumption).", ge=1, le=1_000)
    field_collectors: float | None = P(None, "collectors", "Field collectors the lender employs; they make field_collectors x visits_per_collector visit attempts a day. Unset: as many as collection.visits.capacity needs.", ge=0, le=1e6)
    visits_per_collector: int = P(5, "visits/day", "Visit attempts one field collector makes a day (assumption).", ge=1, le=100)
    harshness_sd: float = P(0.1, "0..1", "Spread of harshness between field collectors around the strategy's collection.tone.harshness (normal, clipped to 0..1; assumption).", ge=0, le=1)
    skill_sd: float = P(0.3, "logit", "Spread of skill between collectors around collection.tone.skill (normal; assumption).", ge=0, le=3)
    incentive: float = P(0.0, "share of pay", "Share of a collector's pay tied to the amounts collected.", ge=0, le=1)
    commission: float = P(0.1, "CU per CU", "Incentive pay per CU collected on promises at incentive = 1 (paid: incentive x commission x collected).", ge=0, le=1)
    incentive_harshness: float = P(0.3, "0..1 per unit", "Harshness incentive pay adds to every field collector, times incentive (assumption).", ge=0, le=1)
    incentive_effort: float = P(0.3, "logit per unit", "Skill (effort) incentive pay adds to every collector, times incentive (assumption).", ge=0, le=3)


class CollectionBase(Section):
    tactics: list[str] = Field(default_factory=lambda: list(DEFAULT_TACTICS), description="The collection tactics the lender runs (components in sim/tactics/; each has its section below). Listed once each; the order they run in is fixed (docs/ODD.md).")
    tone: Tone = section(Tone, "How collectors behave.")
    collectors: Collectors = section(Collectors, "Who the collectors are: headcount, spread of skill and tone, incentive pay (sim/collectors.py).")

    @field_validator("tactics")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        known = tactic_registry()
        for name in v:
            if name not in known:
                raise ValueError(f"unknown tactic {name!r}; one of: {', '.join(known)}")
        dup = sorted({n for n in v if v.count(n) > 1})
        if dup:
            raise ValueError(f"tactic listed twice: {', '.join(dup)}")
        return v


#: the lender's strategy: the list of tactics, the collectors' tone, and one section per tactic
Collection = create_model(
    "Collection",
    __base__=CollectionBase,
    __doc__="The lender's collection strategy: a list of tactics and each tactic's settings.",
    **{name: (cls.Params, section(cls.Params, cls.doc)) for name, cls in tactic_registry().items()},
)


class Regulation(Section):
    call_cap: bool = P(False, "flag", "Enforce the call cap and the quiet period (US Regulation F, 12 CFR 1006.14(b)(2)). When off, calls that would breach them are counted (breaches_call_cap, breaches_quiet_period).")
    max_calls: int = P(7, "calls", "Most calls to one borrower in any cap_window_days consecutive days.", ge=1, le=7)
    cap_window_days: int = P(7, "days", "The window of the call cap.", ge=1, le=30)
    quiet_days: int = P(7, "days", "No call within this many days after a telephone conversation with the borrower (0: no quiet period).", ge=0, le=30)
    visit_ban: bool = P(False, "flag", "Home visits are banned. When off, every visit counts as a breach of a ban (breaches_visit_ban).")
    visit_limit: bool = P(False, "flag", "Enforce at most max_visits visits to one borrower in visit_window_days.")
    max_visits: int = P(1, "visits", "Most visits to one borrower in visit_window_days.", ge=1, le=2)
    visit_window_days: int = P(30, "days", "The window of the visit limit.", ge=1, le=365)
    fee_cap: bool = P(False, "flag", "Enforce the caps on late fees: each fee at most max_late_fee_share of the instalment, and the fees a loan owes at most max_fees_share of its principal. When off, fees that would break them are counted (breaches_fee_cap).")
    max_late_fee_share: float = P(0.03, "share of instalment", "Largest late fee allowed for one missed instalment (assumption).", ge=0, le=1)
    max_fees_share: float = P(0.1, "share of principal", "Largest fee claim a loan may carry at any time (assumption).", ge=0, le=10)
    rate_cap: bool = P(False, "flag", "Enforce the interest-rate cap: a product priced above max_annual_rate is lent at max_annual_rate. When off, loans priced above it are counted (breaches_rate_cap).")
    max_annual_rate: float = P(0.24, "per year", "Highest nominal annual interest rate allowed (assumption).", ge=0, le=2)
    forbearance: bool = P(False, "flag", "Mandatory forbearance in a declared emergency: for borrowers in hardship the loan's clock stops (no instalments fall due, no DPD ageing, no late fees) and only messages may reach them. When off, the calls, visits and late fees it would have stopped are counted (breaches_forbearance).")
    emergency_start_day: int = P(180, "day", "Day of the measurement window on which the emergency is declared (the recession's clock).", ge=0, le=36_500)
    emergency_days: int = P(90, "days", "How long the declared emergency lasts.", ge=1, le=3650)


class Education(Section):
    enabled: bool = P(False, "flag", "Educate every new borrower at origination.")
    literacy_gain: float = P(0.3, "share of the gap to 1", "Literacy gained from education (assumption).", ge=0, le=1)
    understanding_gain: float = P(0.5, "share of the gap to 1", "Contract understanding gained.", ge=0, le=1)
    present_bias_reduction: float = P(0.1, "share", "Present bias removed by planning advice (assumption).", ge=0, le=1)
    cost: float = P(8.0, "CU", "Cost per educated borrower.", ge=0, le=1e6)


class Stress(Section):
    baseline: float = P(0.22, "0..1", "Mean personal baseline: the stress a person returns to in calm times.", ge=0.01, le=0.99)
    baseline_concentration: float = P(2.5, "beta concentration", "Spread of personal baselines (lower: wider); lasting differences between people.", ge=0.5, le=1000)
    halflife: float = P(45.0, "days", "Half-life of stress towards its current level (baseline plus chronic strain).", ge=1, le=3650)
    arrears_strain: float = P(0.06, "0..1", "Chronic strain while behind on this loan or owing charged-off debt (assumption; calibrated to the odds ratio of distress).", ge=0, le=1)
    debt_strain: float = P(0.15, "per unit of DSTI", "Chronic strain per unit of debt service to income, all creditors (assumption).", ge=0, le=2)
    unemployed_strain: float = P(0.05, "0..1", "Chronic strain while out of work (assumption).", ge=0, le=1)
    job_loss: float = P(0.15, "0..1", "Stress from losing a job.", ge=0, le=1)
    emergency: float = P(0.12, "0..1", "Stress from a family emergency.", ge=0, le=1)
    missed_payment: float = P(0.03, "0..1", "Stress from missing a due date.", ge=0, le=1)
    sms: float = P(0.01, "0..1", "Stress from one SMS reminder.", ge=0, le=1)
    phone: float = P(0.02, "0..1", "Stress from one collection call.", ge=0, le=1)
    visit: float = P(0.05, "0..1", "Stress from a visit by an empathetic collector (assumption).", ge=0, le=1)
    visit_harsh: float = P(0.12, "0..1", "Extra stress from a harsh visit, times harshness (assumption).", ge=0, le=1)
    plan_relief: float = P(0.15, "0..1", "Stress relieved by a plan that fits.", ge=0, le=1)
    charge_off: float = P(0.15, "0..1", "Stress from being charged off.", ge=0, le=1)
    high_threshold: float = P(0.6, "0..1", "Stress at or above which a person counts as highly stressed.", ge=0, le=1)


class Trust(Section):
    prior: float = P(0.6, "0..1", "Mean personal prior: the trust a person starts with and drifts back to when nothing happens.", ge=0.01, le=0.99)
    prior_concentration: float = P(12.0, "beta concentration", "Spread of personal priors (lower: wider).", ge=0.5, le=1000)
    halflife: float = P(180.0, "days", "Half-life of the drift back to the personal prior.", ge=1, le=36_500)
    learning_rate: float = P(0.3, "0..1", "How far one fully salient experience moves trust towards what it showed: trust += rate x weight x (quality - trust).", ge=0, le=1)
    call_quality: float = P(0.4, "0..1", "What a collection call conversation shows of the lender (1 good, 0 bad; assumption).", ge=0, le=1)
    call_weight: float = P(0.1, "0..1", "Salience of one call conversation.", ge=0, le=1)
    visit_quality: float = P(0.75, "0..1", "What a visit by an empathetic collector shows (assumption).", ge=0, le=1)
    harsh_visit_quality: float = P(0.05, "0..1", "What a visit by a fully harsh collector shows; tone interpolates (assumption).", ge=0, le=1)
    visit_weight: float = P(0.6, "0..1", "Salience of a visit.", ge=0, le=1)
    plan_quality: float = P(0.9, "0..1", "What being offered a plan that fits shows.", ge=0, le=1)
    plan_weight: float = P(0.5, "0..1", "Salience of a plan.", ge=0, le=1)
    charge_off_quality: float = P(0.1, "0..1", "What being charged off shows.", ge=0, le=1)
    charge_off_weight: float = P(0.5, "0..1", "Salience of a charge-off.", ge=0, le=1)
    word_of_mouth: float = P(0.25, "share", "Share of an experience's weight each tie feels when told (assumption).", ge=0, le=1)
    negativity_bias: float = P(2.0, "x", "Negative stories spread this much more than positive ones.", ge=0, le=10)
    complaint_prob: float = P(0.15, "probability", "Chance of a complaint after a harsh visit, times harshness.", ge=0, le=1)


class Acquisition(Section):
    application_rate: float = P(1.0, "per year", "Applications per person without a loan, at reference trust.", ge=0, le=50)
    trust_elasticity: float = P(1.5, "elasticity", "How strongly applications follow trust (assumption).", ge=0, le=10)
    reference_trust: float = P(0.6, "0..1", "Trust at which application_rate applies.", gt=0, le=1)
    careful_elasticity: float = P(1.0, "elasticity per sd", "Extra trust elasticity of better risks: careful people leave first when reputation falls (assumption).", ge=0, le=10)
    cutoff: float = P(0.3, "score quantile", "Applicants scoring below this are declined (the 'low threshold').", ge=0, le=1)
    score_noise: float = P(1.0, "sd", "Noise of the credit score around true risk (0: perfect).", ge=0, le=10)
    cooldown_days: int = P(30, "days", "Days after repaying before a person applies again.", ge=0, le=36_500)


class Provisions(Section):
    pd_stage1: float = P(0.03, "probability", "IFRS 9 stage 1 (under 30 DPD): 12-month probability of default of a performing loan (assumption).", ge=0, le=1)
    pd_stage2: float = P(0.35, "probability", "IFRS 9 stage 2 (30-89 DPD): lifetime probability of default (assumption).", ge=0, le=1)
    pd_stage3: float = P(0.95, "probability", "IFRS 9 stage 3 (90+ DPD, credit-impaired): probability of default, near 1 (assumption).", ge=0, le=1)
    lgd: float = P(0.75, "share", "Loss given default: share of the exposure (principal part of the balance plus fees) lost when a loan defaults (assumption).", ge=0, le=1)


class Lender(Section):
    cost_of_funds: float = P(0.06, "per year", "Lender's funding cost on outstanding principal.", ge=0, le=1)
    origination_cost: float = P(20.0, "CU", "Cost of acquiring and underwriting one loan.", ge=0, le=1e6)
    operating_cost: float = P(10.0, "CU/month", "Cost of servicing one open loan (systems, statements, staff), per month (assumption).", ge=0, le=1e6)
    capital_ratio: float = P(0.10, "share", "Capital held against outstanding principal (assumption).", ge=0, le=1)
    hurdle_rate: float = P(0.12, "per year", "Return the lender's shareholders require on that capital: the cost of capital (assumption).", ge=0, le=1)
    discount_rate: float = P(0.10, "per year", "Rate at which npv discounts the window's daily profit.", ge=0, le=1)
    provisions: Provisions = section(Provisions, "IFRS 9 expected-credit-loss provisions: PD by stage and LGD.")


class Simulation(Section):
    days: int = P(730, "days", "Days in the measurement window: every summary key is measured over these days, after the burn-in.", ge=1, le=36_500)
    burn_in: int = P(365, "days", "Days simulated before the measurement window, so the loan book and feelings settle from their day-0 set-up; nothing in the summary is measured over them. The run steps burn_in + days days.", ge=0, le=36_500)


class Change(Section):
    day: int = P(..., "day", "Day of the measurement window (the recession's clock: 0 is the last burn-in day) from whose start the new settings apply.", ge=0, le=36_500)
    set: dict[str, Any] = P({}, "dotted keys", "The parameters that change, as dotted keys with their new values (as --set takes them), on top of the scenario as it stood before.")


class Scenario(Section):
    """A complete, validated parameter set. Scenario files hold partial copies of it."""

    name: str = P("baseline", "text", "Short name of the scenario.")
    description: str = P("", "text", "One line saying what the scenario represents.")
    simulation: Simulation = section(Simulation, "Length of the run: a burn-in, then the measurement window.")
    population: Population = section(Population, "Who is in the market.")
    shocks: Shocks = section(Shocks, "Income shocks in normal times.")
    macro: Macro = section(Macro, "Macro conditions over time.")
    products: Products = section(Products, "Loan products.")
    loans: Loans = section(Loans, "Fees and charge-off.")
    repayment: Repayment = section(Repayment, "Repayment decisions: ability times willingness.")
    early_contact: EarlyContact = section(EarlyContact, "Borrowers calling ahead of a shortfall.")
    collection: Collection = section(Collection, "The lender's collection strategy.")  # type: ignore[valid-type]
    regulation: Regulation = section(Regulation, "Rules on collection and on pricing (fees, interest), and their breach counts.")
    education: Education = section(Education, "Customer education at origination.")
    stress: Stress = section(Stress, "Borrower stress.")
    trust: Trust = section(Trust, "Trust in the brand and word of mouth.")
    acquisition: Acquisition = section(Acquisition, "Applications and underwriting.")
    lender: Lender = section(Lender, "Lender economics.")
    changes: list[Change] = Field(default_factory=list, description="Policies that change on a given day: each [[changes]] table sets dotted parameters from the start of its day of the measurement window (sim/scenario.py, timeline).")

    @model_validator(mode="after")
    def _cross_checks(self) -> "Scenario":
        """Rules that tie parameters of different sections together (the message names the key first)."""
        co = self.loans.charge_off_dpd
        if "debt_sale" in self.collection.tactics and self.collection.debt_sale.dpd < co:
            raise ValueError(f"collection.debt_sale.dpd: debt can be sold only once charged off, at or after "
                             f"loans.charge_off_dpd ({co}), got {self.collection.debt_sale.dpd}")
        col = self.collection
        for key, owner, other in (("call_agents", col.reminders, "reminders.phone_capacity"),
                                  ("field_collectors", col.visits, "visits.capacity")):
            name = other.split(".")[1]  # (a full dump of the tree sets every field: compare with the default)
            if getattr(col.collectors, key) is not None and getattr(owner, name) != type(owner).model_fields[name].default:
                raise ValueError(f"collection.collectors.{key}: the headcount sets the capacity; set it or "
                                 f"collection.{other}, not both")
        pv = self.lender.provisions
        if not pv.pd_stage1 <= pv.pd_stage2 <= pv.pd_stage3:
            raise ValueError(f"lender.provisions.pd_stage2: a later IFRS 9 stage is a higher risk, so "
                             f"pd_stage1 <= pd_stage2 <= pd_stage3, got {pv.pd_stage1}, {pv.pd_stage2}, {pv.pd_stage3}")
        if "settlement" in self.collection.tactics and self.collection.settlement.min_dpd >= co:
            raise ValueError(f"collection.settlement.min_dpd: a settlement is offered on a loan not yet charged off, "
                             f"below loans.charge_off_dpd ({co}), got {self.collection.settlement.min_dpd}")
        if "bureau" in self.collection.tactics and self.collection.bureau.report_dpd >= co:
            raise ValueError(f"collection.bureau.report_dpd: a loan is reported delinquent before it is charged off, "
                             f"below loans.charge_off_dpd ({co}), got {self.collection.bureau.report_dpd}")
        return self


def iter_parameters(instance: BaseModel | None = None, prefix: str = ""):
    """Yield (dotted path, unit, default, description, annotation) for every leaf parameter."""
    instance = Scenario() if instance is None else instance
    for name, field in type(instance).model_fields.items():
        path = f"{prefix}{name}"
        ann = field.annotation
        value = getattr(instance, name)
        if isinstance(value, BaseModel):
            yield from iter_parameters(value, path + ".")
            continue
        arms = [a for a in getattr(ann, "__args__", ()) if a is not type(None)]
        if type(None) in getattr(ann, "__args__", ()) and len(arms) == 1:
            ann = arms[0]  # an optional number (unset: derived, e.g. a headcount) is a number to sweep
        extra = field.json_schema_extra or {}
        unit = extra.get("unit", "") if isinstance(extra, dict) else ""
        if isinstance(value, list):
            value = [v.model_dump() if isinstance(v, BaseModel) else v for v in value]
        yield path, unit, value, field.description or "", ann

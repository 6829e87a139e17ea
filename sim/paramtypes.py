"""The building blocks of parameter declarations, shared by :mod:`sim.params` and the tactic modules.

Every parameter is declared with :func:`P`: its default, its unit and its meaning in one place, plus
the range that keeps the arithmetic finite. :mod:`sim.params` assembles the whole tree; each
collection tactic (:mod:`sim.tactics`) declares its own section with these same helpers.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field


def P(default: Any, unit: str, doc: str, **limits: Any) -> Any:
    """A documented parameter: default, unit and meaning in one place."""
    return Field(default, description=doc, json_schema_extra={"unit": unit}, **limits)


def section(cls: type[BaseModel], doc: str) -> Any:
    return Field(default_factory=cls, description=doc)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


Prob = Annotated[float, Field(ge=0.0, le=1.0)]

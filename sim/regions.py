"""Generated regions of a Markdown file and TOML values: the leaf helpers that sim.docs (the ODD
tables) and sim.calibrate (the validation table, calibrated.toml) share."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

BEGIN = "<!-- BEGIN GENERATED: {} -->"
END = "<!-- END GENERATED: {} -->"
#: the same markers in a TOML file (a scenario): comment lines
TOML_BEGIN = "# BEGIN GENERATED: {}"
TOML_END = "# END GENERATED: {}"
#: the region of scenarios/baseline.toml that ``credsim calibrate ... --install`` writes (the fitted model)
CALIBRATED = "calibrated"


def toml_region_re(name: str = CALIBRATED) -> re.Pattern:
    """A generated region of a TOML file: its body is group 1 (the end marker's line break included)."""
    return re.compile(re.escape(TOML_BEGIN.format(name)) + r"\n(.*?)" + re.escape(TOML_END.format(name)) + r"\n?", re.S)


class DocsError(RuntimeError):
    """docs/ODD.md lacks a marker pair or has them out of order."""


def toml_value(value: Any) -> str:
    """A value written as it would be in a scenario file (TOML)."""
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return str(value)


def _region_re(name: str) -> re.Pattern:
    return re.compile(re.escape(BEGIN.format(name)) + r"\n(.*?)" + re.escape(END.format(name)), re.S)


def read_region(text: str, name: str) -> str:
    m = _region_re(name).search(text)
    if m is None:
        raise DocsError(f"docs/ODD.md: markers '{BEGIN.format(name)}' ... '{END.format(name)}' not found")
    return m.group(1).rstrip("\n")


def replace_region(text: str, name: str, content: str) -> str:
    read_region(text, name)  # raises if missing
    block = BEGIN.format(name) + "\n" + content.rstrip("\n") + "\n" + END.format(name)
    return _region_re(name).sub(lambda _m: block, text, count=1)

"""genai-prices' model-name matching clauses, as plain data and evaluated here.

Clauses are kept as small JSON-able lists so a stored catalog snapshot carries its own matching
rules: `["eq", s]`, `["sw", s]` (starts with), `["ew", s]` (ends with), `["in", s]` (contains),
`["re", pattern]` (Python regex, as genai-prices evaluates it), `["or", [...]]`, `["and", [...]]`.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from genai_prices import types as gp

__all__ = ["from_genai_prices", "matches"]

Clause = list[Any]


def from_genai_prices(clause: Any) -> Clause:
    """The data form of one genai-prices clause object.

    genai-prices compares strings case-insensitively, so they are lower-cased here once; regexes
    run as written against the lower-cased name, as there.
    """
    match clause:
        case gp.ClauseEquals(equals=s):
            return ["eq", s.lower()]
        case gp.ClauseStartsWith(starts_with=s):
            return ["sw", s.lower()]
        case gp.ClauseEndsWith(ends_with=s):
            return ["ew", s.lower()]
        case gp.ClauseContains(contains=s):
            return ["in", s.lower()]
        case gp.ClauseRegex(regex=s):
            return ["re", s]
        case gp.ClauseOr(or_=subs):
            return ["or", [from_genai_prices(c) for c in subs]]
        case gp.ClauseAnd(and_=subs):
            return ["and", [from_genai_prices(c) for c in subs]]
    raise TypeError(f"unknown genai-prices clause {clause!r}")


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def matches(clause: Clause, name: str) -> bool:
    """Whether lower-cased `name` satisfies `clause` (genai-prices lower-cases refs too)."""
    op, arg = clause
    if op == "eq":
        return name == arg
    if op == "sw":
        return name.startswith(arg)
    if op == "ew":
        return name.endswith(arg)
    if op == "in":
        return arg in name
    if op == "re":
        return _regex(arg).search(name) is not None
    if op == "or":
        return any(matches(c, name) for c in arg)
    if op == "and":
        return all(matches(c, name) for c in arg)
    raise ValueError(f"unknown clause operator {op!r}")

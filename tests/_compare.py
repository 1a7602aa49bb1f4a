"""Comparing lmerpy's printed text with lme4's (R's ``print(summary(fit))``) in the golden tests.

Each test states its own tolerance for two printed numbers that differ (one unit in the last
digit, an exact rounding tie, a relative error); the helpers here do the shared part: line by
line, the text must be the same once its numbers are masked, and every pair of numbers that
differ must pass the test's own check.
"""
import re

#: a printed decimal number: ``0.006364``, ``-12.5``, ``2.78e-06``
NUMBER = re.compile(r"-?\d+\.\d+(?:e[-+]\d+)?")


def strip_data_line(text):
    """``text`` without its ``   Data:`` line (R prints the data's name there)."""
    return "\n".join(line for line in text.splitlines() if not line.startswith("   Data:"))


def differs_only_in_numbers(got, want, numbers_agree):
    """True when ``got`` and ``want`` have as many lines, each the same but for printed numbers,
    and ``numbers_agree(a, b)`` holds for every pair that differs (``a`` from ``got``, ``b``
    from ``want``, as printed)."""
    g_lines, w_lines = got.splitlines(), want.splitlines()
    if len(g_lines) != len(w_lines):
        return False
    for g, w in zip(g_lines, w_lines):
        if g == w:
            continue
        if NUMBER.sub("#", g) != NUMBER.sub("#", w):
            return False
        for a, b in zip(NUMBER.findall(g), NUMBER.findall(w)):
            if a != b and not numbers_agree(a, b):
                return False
    return True


def decimals(text):
    """How many characters follow the decimal point of a printed number (``"0.0064"``: 4)."""
    return len(text.split(".")[1])


def within_last_digit(a, b):
    """``a`` and ``b`` at most one unit apart in ``a``'s last printed decimal (1.5 units, so
    that the decimal rounding of the two texts does not matter)."""
    return abs(float(a) - float(b)) <= 1.5 * 10.0 ** -decimals(a)


def is_rounding_tie(a, b, values):
    """The midpoint of ``a`` and ``b`` is, to 1e-9 relative, one of ``values`` (in absolute
    value): an exact rounding tie, whose printed digit floating-point noise decides (lme4's
    as much as ours)."""
    mid = (float(a) + float(b)) / 2
    return any(abs(abs(v) - abs(mid)) <= 1e-9 * abs(mid) for v in values)

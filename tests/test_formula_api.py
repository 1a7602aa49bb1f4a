"""The structures lmerpy.formula hands to the design stage (values as R/lme4 give them)."""
import dataclasses

import pytest

import lmerpy.formula as F
from lmerpy.formula import (BinOp, Call, Constant, Name, Number, UnaryOp, all_vars, expand_dot,
                            findbars, frame_variables, nobars, parse_formula)
from lmerpy.formula.parser import grammar_text


def test_grammar_loads():
    # (from the lmerpy.grammar package, or from grammar/ in a source checkout)
    assert "start: formula" in grammar_text()


def test_sleepstudy_structures():
    f = parse_formula("Reaction ~ Days + (Days | Subject)")
    assert f.response == Name("Reaction")
    assert f.fixed.terms == (F.Term((Name("Days"),)),)
    assert f.fixed.intercept is True
    (rt,) = f.random
    assert rt.group == (Name("Subject"),)
    assert rt.lhs.labels == ("Days",) and rt.lhs.intercept
    assert rt.lhs_text == "Days" and rt.double_bar is False
    assert f.text == "Reaction ~ Days + (Days | Subject)"


def test_double_bar_expansion_flags_and_blocks():
    f = parse_formula("Reaction ~ Days + (Days || Subject)")
    assert [(r.lhs_text, r.lhs.intercept, r.double_bar) for r in f.random] == [
        ("1", True, True), ("0 + Days", False, True)]
    # a factor stays one correlated block (lme4: one bar per term label)
    f = parse_formula("y ~ (f + x:z || g)")
    assert [r.lhs_text for r in f.random] == ["1", "0 + f", "0 + x:z"]
    assert f.random[2].lhs.terms[0].factors == (Name("x"), Name("z"))


def test_nested_grouping_in_lme4_order():
    f = parse_formula("strength ~ 1 + (1 | batch/cask)")
    assert [r.group for r in f.random] == [(Name("cask"), Name("batch")), (Name("batch"),)]
    assert [r.group_label for r in f.random] == ["cask:batch", "batch"]
    f = parse_formula("y ~ (x | a/b/c)")
    assert [r.group for r in f.random] == [
        (Name("c"), Name("b"), Name("a")), (Name("b"), Name("a")), (Name("a"),)]
    assert [r.group_label for r in f.random] == ["c:(b:a)", "b:a", "a"]
    assert all(r.lhs.labels == ("x",) for r in f.random)
    assert f.deparse() == "y ~ (x | a/b/c)"


def test_calls_and_arguments():
    f = parse_formula("y ~ poly(x, 2, raw = TRUE) + I(time^2) + log(x + 1) + f(a = 1, b)")
    poly, i2, lg, fab = (t.factors[0] for t in f.fixed.terms)
    assert poly == Call("poly", (Name("x"), Number(2.0, "2")), (("raw", Constant(True, "TRUE")),))
    assert i2 == Call("I", (BinOp("^", Name("time"), Number(2.0, "2")),))
    assert lg == Call("log", (BinOp("+", Name("x"), Number(1.0, "1")),))
    assert fab.args == (Name("b"),) and fab.kwargs == (("a", Number(1.0, "1")),)
    assert fab.kwarg_positions == (0,) and fab.deparse() == "f(a = 1, b)"
    assert [t.label for t in f.fixed.terms] == [
        "poly(x, 2, raw = TRUE)", "I(time^2)", "log(x + 1)", "f(a = 1, b)"]


def test_parentheses_are_kept_inside_calls_only():
    f = parse_formula("y ~ (x) + I((x + 1)^2) + ((z))")
    assert [t.factors[0] for t in f.fixed.terms][0] == Name("x")
    assert f.fixed.terms[2].factors == (Name("z"),)
    inner = f.fixed.terms[1].factors[0].args[0]
    assert inner == BinOp("^", BinOp("+", Name("x"), Number(1.0, "1"), parens=1), Number(2.0, "2"))
    assert inner.deparse() == "(x + 1)^2"
    assert f.deparse() == "y ~ (x) + I((x + 1)^2) + ((z))"


def test_numbers_and_constants():
    f = parse_formula("y ~ I(x * 1e5) + I(x * 2L) + I(x * .5) + I(x * 0x10) + I(x > Inf) + "
                      "I(x == 'a') + poly(x, 2, raw = T)")
    args = [t.factors[0].args[0].right for t in f.fixed.terms[:-1]]
    assert args == [Number(1e5, "1e+05"), Number(2.0, "2L"), Number(0.5, "0.5"),
                    Number(16.0, "16"), Constant(float("inf"), "Inf"), Constant("a", '"a"')]
    assert f.fixed.terms[-1].factors[0].kwargs == (("raw", Constant(True, "T")),)
    # the label drops the L (R's terms), the printed formula keeps it (R's deparse)
    assert f.fixed.labels[1] == "I(x * 2)" and "I(x * 2L)" in f.deparse()


def test_T_and_F_are_columns_at_the_formula_level():
    f = parse_formula("y ~ T + (1 | F)")
    assert f.fixed.terms[0].factors == (Name("T"),)
    assert f.random[0].group == (Name("F"),)


def test_unary_minus_and_power_precedence():
    f = parse_formula("y ~ I(-x^2) + I(x^-1) + I(2^x^3)")
    a, b, c = (t.factors[0].args[0] for t in f.fixed.terms)
    assert a == UnaryOp("-", BinOp("^", Name("x"), Number(2.0, "2")))
    assert b == BinOp("^", Name("x"), UnaryOp("-", Number(1.0, "1")))
    assert c == BinOp("^", Number(2.0, "2"), BinOp("^", Name("x"), Number(3.0, "3")))


def test_response_forms():
    assert parse_formula("cbind(s, n - s) ~ x").response == Call(
        "cbind", (Name("s"), BinOp("-", Name("n"), Name("s"))))
    assert parse_formula("s/n ~ x").response == BinOp("/", Name("s"), Name("n"))
    assert parse_formula("`my y` ~ x").response == Name("my y")
    f = parse_formula("~ x + (1 | g)")
    assert f.response is None and f.deparse() == "~x + (1 | g)"


def test_offsets_are_not_terms():
    f = parse_formula("y ~ x + offset(log(t)) + offset(w)")
    assert f.fixed.labels == ("x",)
    assert f.fixed.offsets == (Call("log", (Name("t"),)), Name("w"))
    assert f.fixed.variables == (Name("x"),)


def test_findbars_and_nobars():
    text = "y ~ x + (1 | g) + (0 + x | h)"
    assert [r.deparse() for r in findbars(text)] == ["(1 | g)", "(0 + x | h)"]
    nb = nobars(text)
    assert nb.random == () and nb.deparse() == "y ~ x" and nb.fixed == parse_formula(text).fixed
    assert nobars("y ~ (1 | g)").deparse() == "y ~ 1"
    assert nobars("y ~ 0 + (1 | g)").fixed.intercept is False
    # lme4's quirk, kept: the removal is dropped with the bar it followed
    assert nobars("y ~ (1 | g) - 1").fixed.intercept is True


def test_expand_dot_like_r_terms_with_data():
    f = parse_formula("log(y) ~ . - x + (1 | g)")
    assert f.fixed.has_dot and f.fixed.labels == (".",)
    e = expand_dot(f, ["y", "x", "z", "g"])
    assert e.fixed.labels == ("z", "g") and not e.fixed.has_dot
    assert e.deparse() == "log(y) ~ . - x + (1 | g)"
    assert f.expand_dot(["y", "x", "z", "g"]) == e
    assert expand_dot("y ~ x", ["y", "x"]) == parse_formula("y ~ x")
    assert [v.deparse() for v in frame_variables(e)] == ["log(y)", "x", "z", "g"]


def test_frame_variables_and_all_vars():
    f = parse_formula("y ~ log(t) + offset(log(t)) + (x | g) + (1 | h:g)")
    assert [v.deparse() for v in f.frame_variables] == [
        "y", "log(t)", "offset(log(t))", "x", "g", "h"]
    assert all_vars(f) == ("y", "t", "x", "g", "h")
    assert parse_formula("y ~ poly(x, 2, raw = T)").all_vars() == ("y", "x", "T")


def test_long_formula_lines():
    f = parse_formula("yvariable ~ alpha + beta + gamma + delta + epsilon + zeta + eta + "
                      "theta + iota + (1 | g)")
    assert f.deparse_lines() == [
        "yvariable ~ alpha + beta + gamma + delta + epsilon + zeta + eta + ",
        "    theta + iota + (1 | g)"]
    assert f.deparse() == ("yvariable ~ alpha + beta + gamma + delta + epsilon + zeta + eta + "
                           "theta + iota + (1 | g)")


def test_parse_is_pure_and_cached():
    a = parse_formula("y ~ x + (1 | g)")
    assert parse_formula("y ~ x + (1 | g)") is a
    assert parse_formula(a) is a
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.response = Name("z")
    assert hash(a.fixed.terms[0]) == hash(F.Term((Name("x"),)))


def test_comments_newlines_and_unicode():
    f = parse_formula("y ~ x +  # slope\n  (1 | g)")
    assert f.deparse() == "y ~ x + (1 | g)"
    f = parse_formula("y ~ \u00e9t\u00e9 + `a b`")
    assert f.fixed.labels == ("\u00e9t\u00e9", "`a b`")

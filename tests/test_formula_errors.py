"""Bad formulas: a FormulaSyntaxError with a caret at the fault, or a FormulaError naming the
misuse. Both are LmerpyErrors; nothing in a formula is ever evaluated."""
import pytest

from lmerpy.errors import FormulaError, FormulaSyntaxError, LmerpyError
from lmerpy.formula import parse_formula
from lmerpy.formula.terms import Call, Constant

# (formula, message start, 0-based caret column)
SYNTAX_ERRORS = [
    ("", "empty formula", 0),
    ("   ", "empty formula", 0),
    ("y ~ (x + z", "unbalanced parentheses: this '(' is never closed", 4),
    ("y ~ x + (1 | g", "unbalanced parentheses: this '(' is never closed", 8),
    ("y ~ x)", "unbalanced parentheses: this ')' has no matching '('", 5),
    ("y ~ log(x))", "unbalanced parentheses: this ')' has no matching '('", 10),
    ("y ~ (x|)", "'|' needs a grouping factor on its right", 7),
    ("y ~ x + (1 | )", "'|' needs a grouping factor on its right", 13),
    ("y ~ (x ||)", "'||' needs a grouping factor on its right", 9),
    ("y ~ x + 1 |", "'|' needs a grouping factor on its right", 11),
    ("y ~ (|g)", "'|' needs a left-hand side", 5),
    ("y ~ x + (|| g)", "'||' needs a left-hand side", 9),
    ("y ~ x +", "the formula ends after '+': a term is missing", 7),
    ("y ~ x * ", "the formula ends after '*': a term is missing", 7),
    ("y ~", "nothing after '~': the right-hand side is missing", 3),
    ("y ~ ~ x", "a formula has exactly one '~'", 4),
    ("y ~ x ~ z", "a formula has exactly one '~'", 6),
    ("y + x", "not a formula: '~' is missing", 5),
    ("y ~ x z", "unexpected name 'z' (an operator is missing before it?)", 6),
    ("y ~ x + (1|g) (1|h)", "unexpected '(' (an operator is missing before it?)", 14),
    ("y ~ x + * z", "unexpected '*' after '+'", 8),
    ("y ~ * z", "unexpected '*' after '~'", 4),
    ("y ~ ()", "empty parentheses '()'", 5),
    ("y ~ f(x,)", "',' needs something on its right", 8),
    ("y ~ x, z", "',' outside a function call's arguments", 5),
    ("y ~ x = z", "'=' may only name a function argument", 6),
    ("y ~ x $ z", "'$' is not supported in a formula", 6),
    ("y ~ x[1]", "indexing with '[' is not supported", 5),
    ("y ~ `x + z", "unterminated backquoted name", 4),
    ("y ~ I(x == 'a)", "unterminated string", 11),
    ("y ~ x + _z", "a name cannot start with '_'", 8),
    ("y ~ if + x", "unexpected reserved word 'if'", 4),
    ("y ~ function(x) x", "unexpected reserved word 'function'", 4),
    ("y ~ a < b < c", "unexpected '<'", 10),
    ("y ~ x; z", "unexpected ';'", 5),
    ("__import__('os').system('rm') ~ y", "a name cannot start with '_'", 0),
    ("y ~ x\n + (1 | g", "unbalanced parentheses: this '(' is never closed", 9),
]


@pytest.mark.parametrize("text,message,column", SYNTAX_ERRORS, ids=[e[0] for e in SYNTAX_ERRORS])
def test_syntax_error_message_and_caret(text, message, column):
    with pytest.raises(FormulaSyntaxError) as info:
        parse_formula(text)
    err = info.value
    assert isinstance(err, LmerpyError)
    assert str(err).startswith(message)
    assert err.column == column
    if text.strip():
        # the message shows the formula (on one line) and a caret under the fault
        lines = str(err).split("\n")
        assert lines[-2] == "  " + err.formula
        assert lines[-1] == "  " + " " * column + "^"
        assert len(err.formula) == len(text)


# (formula, words the message must contain)
MEANINGLESS = [
    ("y ~ offset(a, b)", ["offset() takes exactly one argument", "offset(a, b)"]),
    ("y ~ offset()", ["offset() takes exactly one argument"]),
    ("y ~ x + offset(o, k = 2)", ["offset() takes exactly one argument"]),
    ("y ~ log(x | g)", ["'(x | g)'", "the call 'log()'"]),
    ("y ~ I(a || b)", ["'(a || b)'", "the call 'I()'"]),
    ("y ~ poly(x, 2) + exp(1 | g)", ["'(1 | g)'", "'exp()'"]),
    ("y ~ x * (1 | g)", ["'(1 | g)'", "operator '*'"]),
    ("y ~ x:(1 | g)", ["'(1 | g)'", "operator ':'"]),
    ("y ~ x - (1 | g)", ["'(1 | g)'", "removal"]),
    ("y ~ -(1 | g)", ["'(1 | g)'", "unary"]),
    ("y ~ ((1 | a) | g)", ["nested bars", "1 | a"]),
    ("y ~ (1 | (x | g))", ["nested bars"]),
    ("y | g ~ x", ["response", "y | g"]),
    ("1 ~ x", ["response '1' is a constant"]),
    ("y ~ x + 2", ["'2' is not a variable"]),
    ("y ~ x + TRUE", ["'TRUE' is not a variable"]),
    ("y ~ x + 'a'", ["is not a variable"]),
    ("y ~ (a + b)^1", ["invalid power in formula", "(a + b)^1"]),
    ("y ~ (a + b)^z", ["invalid power in formula", "must be a number"]),
    ("y ~ (1 | a + b)", ["invalid grouping factor 'a + b'"]),
    ("y ~ (1 | 1)", ["invalid grouping factor '1'"]),
    ("y ~ (x | a*b)", ["invalid grouping factor 'a * b'"]),
    ("y ~ (1 | a:b/c)", ["unparseable formula for grouping factor", "a:b"]),
    ("y ~ (1 | (a/b))", ["unparseable formula for grouping factor", "(a/b)"]),
    ("y ~ (1 | factor(a)/b)", ["unparseable formula for grouping factor", "factor(a)"]),
    ("y ~ (0 || g)", ["'(0 || g)' has no terms"]),
    ("y ~ (. | g)", ["'.' is not allowed in the random-effects term"]),
    ("y ~ (1 | .)", ["'.' is not allowed in the random-effects term"]),
    ("y ~ (offset(o) | g)", ["'offset(o)' is not allowed in the random-effects term"]),
    (". ~ x", ["'.' cannot be the response"]),
]


@pytest.mark.parametrize("text,words", MEANINGLESS, ids=[m[0] for m in MEANINGLESS])
def test_meaningless_formula_names_the_fault(text, words):
    with pytest.raises(FormulaError) as info:
        parse_formula(text)
    assert not isinstance(info.value, FormulaSyntaxError)
    for w in words:
        assert w in str(info.value)


def test_not_a_string():
    with pytest.raises(FormulaError, match="must be a string, not int"):
        parse_formula(42)


def test_dot_duplicated_columns():
    from lmerpy.formula import expand_dot
    with pytest.raises(FormulaError, match="duplicated name 'x' in data frame using '.'"):
        expand_dot("y ~ .", ["y", "x", "x"])


def test_nothing_is_evaluated():
    """Code-looking formulas are parsed as data: calls to (unknown) functions, never run."""
    f = parse_formula("y ~ `__import__`('os') + system('echo hacked')")
    funcs = [t.factors[0].func for t in f.fixed.terms]
    assert funcs == ["__import__", "system"]
    assert f.fixed.terms[0].factors[0].args == (Constant("os", '"os"'),)
    f = parse_formula("y ~ eval(parse(text = 'x'))")
    call = f.fixed.terms[0].factors[0]
    assert isinstance(call, Call) and call.func == "eval"
    assert call.args[0].kwargs == (("text", Constant("x", '"x"')),)

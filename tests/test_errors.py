"""Bad input: a QstsError that says what and where, and nothing else escapes."""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import qsts
from qsts.errors import (ArityError, InputValueError, MissingVariableError, QstsError, QstsSyntaxError,
                         ReservedNameError, UnknownFunctionError, UnknownVariableError)


def test_syntax_error_has_line_column_and_caret():
    with pytest.raises(QstsSyntaxError) as info:
        qsts.parse("(x + y))")
    err = info.value
    assert (err.line, err.column) == (1, 8)
    assert str(err).splitlines()[-2:] == ["  (x + y))", "         ^"]
    assert "unexpected ')'" in str(err)


def test_syntax_error_on_a_later_line():
    with pytest.raises(QstsSyntaxError) as info:
        qsts.parse("x +\n  * y")
    assert (info.value.line, info.value.column) == (2, 3)
    assert str(info.value).splitlines()[-2:] == ["    * y", "    ^"]


@pytest.mark.parametrize("text, column, words", [
    ("x +", 4, "unexpected end of input"),
    ("", 1, "empty expression"),
    ("   ", 1, "empty expression"),
    ("x $ y", 3, "unexpected character '$'"),
    ("x y", 3, "unexpected name 'y'"),
    ("2x", 2, "unexpected name 'x'"),
    ("sin x", 5, "unexpected name 'x'"),
    ("(x", 3, "expected ')'"),
    ("x,y", 2, "unexpected ','"),
    ("x^", 3, "unexpected end of input"),
])
def test_syntax_errors(text, column, words):
    with pytest.raises(QstsSyntaxError) as info:
        qsts.parse(text)
    assert info.value.column == column and words in str(info.value)


def test_unknown_function_names_the_nearest():
    with pytest.raises(UnknownFunctionError) as info:
        qsts.parse("2 + sine(x)")
    assert "unknown function 'sine'" in str(info.value) and "did you mean 'sin'?" in str(info.value)
    assert info.value.column == 5
    with pytest.raises(UnknownFunctionError, match="known functions: abs, acos"):
        qsts.parse("qqqqq(x)")


def test_wrong_number_of_arguments():
    with pytest.raises(ArityError, match=r"sin\(\) takes 1 argument, got 2"):
        qsts.parse("sin(x, y)")
    with pytest.raises(ArityError, match=r"atan2\(\) takes 2 arguments, got 1"):
        qsts.parse("atan2(x)")
    with pytest.raises(ArityError, match="got 0"):
        qsts.parse("exp()")


def test_function_names_are_not_variables():
    with pytest.raises(QstsSyntaxError, match="'sin' is a function"):
        qsts.parse("sin + 1")
    with pytest.raises(QstsSyntaxError, match="'neg' is a reserved name"):
        qsts.parse("neg * 2")


def test_missing_variable_is_named():
    with pytest.raises(MissingVariableError, match="'y'"):
        qsts.grad("x*y", x=1)
    with pytest.raises(MissingVariableError, match="'x', 'y'"):
        qsts.evaluate("x*y")


def test_unknown_variable_is_named():
    with pytest.raises(UnknownVariableError, match="'z' not in the expression"):
        qsts.grad("x*y", x=1, y=2, z=3)


@pytest.mark.parametrize("name", ["pi", "e"])
def test_constants_cannot_be_given_values(name):
    with pytest.raises(ReservedNameError, match=f"'{name}' is the constant"):
        qsts.evaluate("x", x=1, **{name: 3})


def test_function_names_cannot_be_keywords():
    with pytest.raises(ReservedNameError, match="'sin' is a function"):
        qsts.evaluate("x", x=1, sin=3)


@pytest.mark.parametrize("value", ["abc", "1.5", None, 1 + 2j, [1, "a"], ["1.5"], [[1, 2], [3]], object(),
                                   10 ** 400, [10 ** 400], np.array(["a"]), np.str_("1.5"),
                                   np.ma.masked_array([1.0, 2.0], mask=[0, 1]), np.array([1 + 1j])])
def test_values_must_be_real(value):
    with pytest.raises(InputValueError, match="x "):
        qsts.evaluate("x", x=value)
    with pytest.raises(InputValueError, match="x "):
        qsts.grad("x", x=value)


def test_shapes_must_broadcast():
    with pytest.raises(InputValueError, match="do not broadcast"):
        qsts.evaluate("x+y", x=np.ones(3), y=np.ones(4))
    with pytest.raises(InputValueError, match="do not broadcast"):
        qsts.grad("x+y", x=np.ones(3), y=np.ones(4))
    with pytest.raises(InputValueError, match="do not broadcast"):
        qsts.compile("x+y").grad(x=np.ones(3), y=np.ones(4))


def test_non_ascii_digits_and_spaces_are_not_numbers_or_whitespace():
    for text in ["\u0663*x", "\uff11+x", "x\u00a0+ 1", "x\u2003+1", "x\x1c+1"]:
        with pytest.raises(QstsSyntaxError, match="unexpected character"):
            qsts.parse(text)


def test_caret_with_tabs_trailing_blank_lines_and_long_lines():
    with pytest.raises(QstsSyntaxError) as info:
        qsts.parse("x\t\t$")
    assert str(info.value).splitlines()[-2:] == ["  x\t\t$", "   \t\t^"]
    with pytest.raises(QstsSyntaxError) as info:
        qsts.parse("x +\n\n")
    assert (info.value.line, info.value.column) == (1, 4)
    with pytest.raises(QstsSyntaxError) as info:
        qsts.parse("x+" * 50_000 + "$")
    context = str(info.value).splitlines()[-2:]
    assert len(context[0]) < 100 and context[1].index("^") == context[0].index("$")


def test_expression_must_be_text():
    with pytest.raises(QstsError, match="string"):
        qsts.parse(42)
    with pytest.raises(QstsError, match="string"):
        qsts.to_postfix(None)


@pytest.mark.parametrize("text", [
    "__import__('os').system('touch /tmp/qsts_pwned')",
    "__import__(\"os\").system(\"touch /tmp/qsts_pwned\")",
    "eval(x)", "exec(x)", "open(x)", "x.__class__", "x; import os", "[x for x in y]", "lambda: 1",
    "globals()", "getattr(x, y)", "x if y else z", "`touch /tmp/qsts_pwned`",
])
def test_code_injection_is_refused_without_running_anything(text, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("user text reached eval/exec/system")

    for name in ("system", "popen"):
        monkeypatch.setattr(os, name, forbidden)
    monkeypatch.setattr("builtins.eval", forbidden)
    monkeypatch.setattr("builtins.exec", forbidden)
    with pytest.raises(QstsError):
        qsts.grad(text, x=1, y=2, z=3)
    assert not os.path.exists("/tmp/qsts_pwned")


ALPHABET = "xyz0123456789.eE+-*/^(),_ \n\tsincoexplgqrtabmhdf$'\"[]{}!@#%&|=<>;:?~`\\"


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(alphabet=ALPHABET, max_size=40), st.text(max_size=20)))
def test_fuzz_only_qsts_errors_escape(text):
    try:
        e = qsts.parse(text)
    except QstsError:
        return
    with np.errstate(all="raise"):
        for value in (0.5, 0.0, -1e308, np.array([0.0, -1.0, 1e999, np.nan])):
            values = {v: value for v in e.variables}
            qsts.value_and_grad(e, **values)
        str(qsts.diff(e, "x"))

"""The exceptions qsts raises for bad user input: all are `QstsError`.

`QstsError` subclasses `ValueError`, so code that already guards numeric input
with `except ValueError` keeps working.
"""
from __future__ import annotations


class QstsError(ValueError):
    """Base class of every error qsts raises for bad input."""


class QstsSyntaxError(QstsError):
    """Text that is not an expression. Carries `line`, `column` (1-based) and
    `context`, the offending line with a caret under the offending character."""

    def __init__(self, message: str, line: int, column: int, context: str, hint: str = ""):
        self.reason, self.hint = message, hint
        self.line, self.column, self.context = line, column, context
        hint = f"; {hint}" if hint else ""
        super().__init__(f"{message} at line {line}, column {column}{hint}\n{context}")


class UnknownFunctionError(QstsSyntaxError):
    """A call to a function qsts does not have, e.g. `sine(x)`."""


class ArityError(QstsSyntaxError):
    """A call with the wrong number of arguments, e.g. `sin(x, y)`."""


class ReservedNameError(QstsError):
    """A name that cannot be a variable: `pi`, `e`, or a function's name."""


class MissingVariableError(QstsError):
    """An expression's variable was given no value."""


class UnknownVariableError(QstsError):
    """A value was given for a name the expression does not contain."""


class ArgumentError(QstsError, TypeError):
    """A call's arguments that do not fit the variables: more positional values
    than variables, or a variable given both by position and by keyword (or an
    argument of the wrong type elsewhere, as `Graph.render(None)`). Also a
    `TypeError`, as Python's own call errors are."""


class InputValueError(QstsError):
    """A value that is not a real number (or array of them)."""


class MissingRuleError(QstsError):
    """An operator has no derivative rule for one of its arguments."""

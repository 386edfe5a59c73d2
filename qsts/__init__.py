"""qsts: infix math strings to exact derivatives, fast.

>>> import qsts
>>> qsts.grad("(x+y)+x*(x+y)", x=1, y=2)
{'x': 5.0, 'y': 2.0}
"""
from .api import check_grad, diff, evaluate, from_sympy, grad, hessian, jacobian, latex, parse, to_postfix, value_and_grad
from .errors import (ArgumentError, ArityError, InputValueError, MissingRuleError, MissingVariableError, QstsError,
                     QstsSyntaxError, ReservedNameError, UnknownFunctionError, UnknownVariableError)
from .drawing import Graph
from .expression import Expression
from .function import Function, VectorFunction, compile
from .optimize import OptimizeResult, ScipyObjective, minimize
from . import version


__version__ = version.__version__

__all__ = [
    "parse", "from_sympy", "to_postfix", "evaluate", "grad", "value_and_grad", "diff", "check_grad", "latex", "Expression", "Graph",
    "compile", "Function", "VectorFunction", "hessian", "jacobian", "minimize", "OptimizeResult",
    "ScipyObjective",
    "QstsError", "QstsSyntaxError", "UnknownFunctionError", "ArityError", "ReservedNameError",
    "MissingVariableError", "UnknownVariableError", "ArgumentError", "InputValueError", "MissingRuleError",
]

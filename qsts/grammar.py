"""Text to postfix: the Lark LALR parser of `grammar/qsts.lark`.

The parser runs with an embedded transformer, so each rule's callback fires at
its reduction. An LALR parser reduces children before parents and left before
right, which is postfix order: each callback appends one token to the output and
no parse tree is built (no recursion, so 5,000 nested parentheses are fine).

Postfix items are floats (numbers) or strings: an operator token of
`qsts.ops.BY_TOKEN`, the name of a constant, or else a variable name.
"""
from __future__ import annotations

import difflib
import threading
from importlib import resources
from pathlib import Path

import lark
from lark import Lark, Transformer, v_args

from .errors import ArityError, QstsError, QstsSyntaxError, UnknownFunctionError
from .ops import CONSTANTS, FUNCTIONS, OPS, RESERVED

Postfix = list  # list[float | str]


def grammar_text() -> str:
    """The grammar, from inside the installed package or else from the source tree."""
    packaged = resources.files("qsts").joinpath("data").joinpath("qsts.lark")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parent.parent / "grammar" / "qsts.lark").read_text(encoding="utf-8")


@v_args(inline=True)
class _Emitter(Transformer):
    """Appends postfix to `self.out` as the parser reduces."""

    def __init__(self):
        super().__init__()
        self.out: Postfix = []
        self.text = ""

    def number(self, tok):
        self.out.append(float(tok))

    def name(self, tok):
        if tok in FUNCTIONS:
            raise _error(self.text, tok, f"'{tok}' is a function, not a variable",
                         hint=f"call it as {tok}(...)")
        if tok in RESERVED and tok not in CONSTANTS:
            raise _error(self.text, tok, f"'{tok}' is a reserved name (the postfix token of an operator)",
                         hint="choose another variable name")
        self.out.append(str(tok))

    def call(self, tok, nargs):
        op = FUNCTIONS.get(str(tok))
        if op is None:
            raise _error(self.text, tok, f"unknown function '{tok}'", UnknownFunctionError, _suggest(str(tok)))
        nargs = nargs or 0
        if nargs != op.arity:
            plural = "s" if op.arity != 1 else ""
            raise _error(self.text, tok, f"{tok}() takes {op.arity} argument{plural}, got {nargs}", ArityError)
        self.out.append(op.token)

    def arguments(self, *args):
        return len(args)


# One callback per operator alias of the grammar: emit the row's token.
for _name in ("add", "sub", "mul", "div", "pow", "neg"):
    setattr(_Emitter, _name, (lambda token: lambda self, *_: self.out.append(token))(OPS[_name].token))


def _suggest(name: str) -> str:
    close = difflib.get_close_matches(name, list(FUNCTIONS), n=1, cutoff=0.5)
    if close:
        return f"did you mean '{close[0]}'?"
    return "known functions: " + ", ".join(sorted(FUNCTIONS))


def _caret(text: str, line: int, column: int, width: int = 72) -> str:
    """The offending line (a window of it, if long) with a caret under `column`."""
    lines = text.split("\n")
    source = (lines[line - 1] if 0 < line <= len(lines) else "").rstrip("\r")
    start = max(0, min(column - 1 - width // 2, len(source) - width))
    shown = source[start:start + width]
    pad = "".join("\t" if c == "\t" else " " for c in shown[:column - 1 - start])  # tabs keep the caret aligned
    prefix = "..." if start else ""
    return f"  {prefix}{shown}{'...' if start + width < len(source) else ''}\n  {' ' * len(prefix)}{pad}^"


def _error(text: str, tok, message: str, cls=QstsSyntaxError, hint: str = "") -> QstsSyntaxError:
    return cls(message, tok.line, tok.column, _caret(text, tok.line, tok.column), hint)


_parser: Lark | None = None
_emitter = _Emitter()
_lock = threading.Lock()  # the emitter's output list is shared; parsing holds the GIL anyway


def parser(**options) -> Lark:
    """The LALR parser. Options are passed to Lark (tests use `strict=True`)."""
    return Lark(grammar_text(), parser="lalr", transformer=options.pop("transformer", _emitter),
                maybe_placeholders=True, **options)


def to_postfix(text: str) -> Postfix:
    """Parse infix `text` to postfix, e.g. `x*(y+1)` -> `['x', 'y', 1.0, '+', '*']`."""
    global _parser
    if not isinstance(text, str):
        raise QstsError(f"an expression must be a string, not {type(text).__name__}")
    with _lock:
        if _parser is None:
            _parser = parser()
        _emitter.out, _emitter.text = [], text
        try:
            if not text.strip():
                raise QstsSyntaxError("empty expression", 1, 1, _caret(text, 1, 1))
            _parser.parse(text)
            return _emitter.out
        except lark.exceptions.UnexpectedInput as err:
            raise _syntax_error(text, err) from None
        finally:
            _emitter.out, _emitter.text = [], ""


# ---------------------------------------------------------------- messages

_DESCRIBE = {"NAME": "a name", "NUMBER": "a number", "$END": "the end of the input"}


def _describe(terminal: str) -> str:
    if terminal in _DESCRIBE:
        return _DESCRIBE[terminal]
    for t in _parser.terminals:
        if t.name == terminal and t.pattern.type == "str":
            return f"'{t.pattern.value}'"
    return terminal


def _syntax_error(text: str, err: lark.exceptions.UnexpectedInput) -> QstsSyntaxError:
    line, column = max(err.line, 1), max(err.column, 1)
    if isinstance(err, lark.exceptions.UnexpectedCharacters):
        message = f"unexpected character {text[err.pos_in_stream]!r}"
    elif isinstance(err, lark.exceptions.UnexpectedToken) and err.token.type != "$END":
        kind = {"NAME": "name ", "NUMBER": "number "}.get(err.token.type, "")
        message = f"unexpected {kind}{str(err.token)!r}"
    else:  # the input ended too soon: point just past its last character
        lines = text.rstrip().split("\n")
        line, column = len(lines), len(lines[-1]) + 1
        message = "unexpected end of input"
    # `accepts` simulates the pending reductions, so it is sharper than `expected`
    terminals = getattr(err, "accepts", None) or getattr(err, "expected", None) or ()
    expected = sorted(_describe(t) for t in terminals)
    hint = ""
    if expected:
        hint = "expected " + (", ".join(expected[:-1]) + " or " + expected[-1] if len(expected) > 1 else expected[0])
    return QstsSyntaxError(message, line, column, _caret(text, line, column), hint)

"""The interactive session (SPEC section 6).

Lines are `name = expr` (a number binds a value; an expression with variables
is kept as a named graph, which later lines use as a node, not as text), a bare
expression (evaluated at the current bindings), or a `:command`. On a terminal
the session has line editing, history and tab completion (readline); piped, it
prints results only, so scripts can drive it.
"""
from __future__ import annotations

import math
import os
import signal
import sys
from typing import Callable, TextIO

import numpy as np

from . import api
from .errors import QstsError
from .expression import Expression
from .graph import VAR, Node, make, topological
from .ops import FUNCTIONS, OPS, RESERVED
from .optimize import INTERRUPTED, minimize
from .printing import LIMIT, graph_text, infix, number, preview
from .values import ieee_word

BANNER = "qsts: exact derivatives of math. `:help` lists the commands, Ctrl-D quits."
ECHO_WIDTH = 1000  # characters of a named expression shown when it is bound
HISTORY = os.path.join(os.path.expanduser("~"), ".qsts_history")


def substitute(root: Node, names: dict[str, Node]) -> Node:
    """`root` with each variable named in `names` replaced by that node: shared
    subgraphs stay shared (an explicit stack via the topological order)."""
    new: dict[Node, Node] = {}
    for node in topological([root]):
        if node.op == VAR:
            new[node] = names.get(node.value, node)
        elif node.args:
            new[node] = make(node.op, tuple(new[a] for a in node.args), OPS[node.op].commutative)
        else:
            new[node] = node
    return new[root]


class Session:
    """State of one session: bound values and named expressions."""

    def __init__(self, out: TextIO = sys.stdout, err: TextIO | None = None):
        self.values: dict[str, float | np.ndarray] = {}
        self.named: dict[str, Expression] = {}
        self.widths: dict[str, int] = {}  # each named expression's echo length, ECHO_WIDTH + 1 for "long"
        self.out, self.err = out, err or out
        self.done = False
        self.failed = 0  # lines that ended in an error or were interrupted
        self.commands: dict[str, tuple[Callable[[str], None], str]] = {
            "grad": (self.cmd_grad, ":grad EXPR       value and gradient at the current bindings"),
            "diff": (self.cmd_diff, ":diff EXPR VAR   symbolic derivative"),
            "postfix": (self.cmd_postfix, ":postfix EXPR    postfix (RPN) form"),
            "graph": (self.cmd_graph, ":graph EXPR      the DAG with its shared nodes"),
            "hessian": (self.cmd_hessian, ":hessian EXPR    second partials at the current bindings"),
            "minimize": (self.cmd_minimize, ":minimize EXPR [over V ...]  gradient descent from the bindings"),
            "vars": (self.cmd_vars, ":vars            bindings and named expressions"),
            "del": (self.cmd_del, ":del NAME        forget a binding"),
            "help": (self.cmd_help, ":help            this list"),
            "quit": (self.cmd_quit, ":quit            leave (also Ctrl-D)"),
        }

    def say(self, text: str) -> None:
        print(text, file=self.out)

    # ------------------------------------------------------------ lines
    def run(self, line: str) -> None:
        """Handle one line; an error is printed (to `err`) and the session goes on.
        Ctrl-C stops the line's work and keeps every binding: a binding changes
        only when its new value is complete."""
        try:
            self._run(line.strip())
        except QstsError as err:
            self.failed += 1
            print(f"error: {err}", file=self.err)
        except KeyboardInterrupt:
            self.failed += 1
            print("interrupted", file=self.err)

    def _run(self, line: str) -> None:
        if not line or line.startswith("#"):
            return
        if line.startswith(":"):
            name, _, rest = line[1:].partition(" ")
            if name not in self.commands:
                raise QstsError(f"unknown command ':{name}'; :help lists them")
            self.commands[name][0](rest.strip())
            return
        target, eq, rest = line.partition("=")
        if eq and target.strip().isidentifier() and not rest.startswith("="):
            self.assign(target.strip(), rest.strip())
            return
        self.say(self.show(self.evaluate(self.expression(line))))

    def assign(self, name: str, text: str) -> None:
        if name in RESERVED:
            raise QstsError(f"'{name}' is a constant or function name")
        if not name.isascii():
            raise QstsError(f"names are ASCII: [A-Za-z_][A-Za-z0-9_]*, got {name!r}")
        if text.startswith("[") and text.endswith("]"):  # an array: t = [1, 2, 3]
            items = _split_items(text[1:-1])
            self.values[name] = np.array([float(self.evaluate(self.expression(item))) for item in items])
            self.named.pop(name, None)
            self.say(f"{name} = {self.show(self.values[name])}")
            return
        if ieee_word(text) is not None and text.strip().lower() not in {**self.values, **self.named}:
            self.values[name] = ieee_word(text)  # x = inf, as the command line takes it
            self.named.pop(name, None)
            self.say(f"{name} = {self.show(self.values[name])}")
            return
        e = self.expression(text)
        if name in e.variables and name not in self.values:
            raise QstsError(f"{name} cannot be defined in terms of itself")
        if name in e.variables:  # x = x + 1 with x bound: a new value
            self.values[name] = self.evaluate(e)
            self.say(f"{name} = {self.show(self.values[name])}")
            return
        if e.variables:
            shown, self.widths[name] = self.echo(e, text)
            self.named[name] = e  # a graph, reused as a node by later lines
            self.values.pop(name, None)
            self.say(f"{name} := {shown}")
        else:
            self.values[name] = api.evaluate(e)
            self.named.pop(name, None)
            self.say(f"{name} = {self.show(self.values[name])}")

    def echo(self, e: Expression, typed: str) -> tuple[str, int]:
        """What `name := ...` shows, and its written-out width: the expression
        written out, unless that is long (pasting a shared form line by line must
        not print each line's whole tree). A line that uses a long named
        expression is long: then even the walk to the first character (as deep as
        the graph) is not made, so the cost is bounded by the line and the width."""
        long = ECHO_WIDTH + 1
        if any(v in self.named and self.widths[v] == long for v in api.parse(typed).variables):
            return typed, long
        text = infix(e.root, limit=long)
        return (text, len(text)) if len(text) < long else (typed, long)

    def expression(self, text: str) -> Expression:
        """`text` with named expressions put in as their graphs."""
        e = api.parse(text)
        used = {v: self.named[v] for v in e.variables if v in self.named}
        if not used:
            return e
        root = substitute(e.root, {k: v.root for k, v in used.items()})
        order = []  # substitution rewrites nothing else, so these are exactly the variables left
        for v in e.variables:
            order += list(used[v].variables) if v in used else [v]
        return Expression(root, tuple(dict.fromkeys(order)))

    def bindings(self, e: Expression) -> dict:
        missing = [v for v in e.variables if v not in self.values]
        if missing:
            raise QstsError(f"no value for {', '.join(missing)}; bind it first, e.g. {missing[0]} = 1")
        return {v: self.values[v] for v in e.variables}

    def evaluate(self, e: Expression):
        return api.evaluate(e, **self.bindings(e))

    @staticmethod
    def show(value) -> str:
        if isinstance(value, float):
            return number(value, names=False) if math.isfinite(value) else repr(value)  # inf, -inf, nan
        return np.array2string(np.asarray(value), separator=", ")

    # ------------------------------------------------------------ commands
    def cmd_grad(self, text: str) -> None:
        e = self.expression(text)
        value, grads = api.value_and_grad(e, **self.bindings(e))
        self.say(f"value = {self.show(value)}")
        for k, g in grads.items():
            self.say(f"d/d{k} = {self.show(g)}")

    def cmd_diff(self, text: str) -> None:
        expr, _, var = text.rpartition(" ")
        if not expr:
            raise QstsError("usage: :diff EXPR VAR")
        self.say(str(api.diff(self.expression(expr), var)))

    def cmd_postfix(self, text: str) -> None:
        uses_names = any(v in self.named for v in api.parse(text).variables)
        expanded = text
        if uses_names:  # named expressions written out: a tree, which can be exponentially larger than the DAG
            e = self.expression(text)
            tokens = e.tree_size
            if tokens > LIMIT // 2:  # two characters a token at least (itself and a space)
                raise QstsError(f"the postfix would have {tokens:,} tokens, more than the {LIMIT // 2:,} "
                                ":postfix prints: it writes each shared subexpression out at every use; "
                                ":graph shows the DAG, and :diff prints long results in the shared form")
            expanded = e.text()
        self.say(" ".join(number(t, names=False) if isinstance(t, float) else t for t in api.to_postfix(expanded)))

    def cmd_graph(self, text: str) -> None:
        e = self.expression(text)
        self.say(graph_text([e.root], ["f"]))
        self.say(f"{e.node_count} nodes in the DAG; {e.tree_size} as a tree")

    def cmd_hessian(self, text: str) -> None:
        e = self.expression(text)
        self.say(f"variables {', '.join(e.variables)}")
        self.say(self.show(api.hessian(e, **self.bindings(e))))

    def cmd_minimize(self, text: str) -> None:
        expr, _, over = text.partition(" over ")
        e = self.expression(expr)
        free = over.split() or list(e.variables)
        strangers = [v for v in free if v not in e.variables]
        if strangers:
            raise QstsError(f"{', '.join(strangers)} not in the expression (its variables: {', '.join(e.variables)})")
        env = self.bindings(e)
        # the same defaults as qsts.minimize and `qsts minimize`
        r = minimize(e, x0={v: env[v] for v in free}, data={v: env[v] for v in e.variables if v not in free})
        if r.message == INTERRUPTED:  # Ctrl-C: show the point reached, change nothing
            self.failed += 1
            self.say(f"interrupted after {r.nit} iterations; the bindings are unchanged. The point reached:")
            self.say(f"f = {self.show(r.fun)}")
            for k, v in r.x.items():
                self.say(f"{k} = {self.show(v)}")
            return
        self.values.update(r.x)  # the minimizer becomes the current binding, all at once
        self.say(f"{'converged' if r.converged else 'not converged'}: {r.message}; {r.nit} iterations")
        self.say(f"f = {self.show(r.fun)}")
        for k, v in r.x.items():
            self.say(f"{k} = {self.show(v)}")

    def cmd_vars(self, _: str) -> None:
        for k, v in self.values.items():
            self.say(f"{k} = {self.show(v)}")
        for k, e in self.named.items():
            self.say(f"{k} := {preview(e.root, ECHO_WIDTH)}")

    def cmd_del(self, name: str) -> None:
        if self.values.pop(name, None) is None and self.named.pop(name, None) is None:
            raise QstsError(f"nothing is bound to {name!r}")

    def cmd_help(self, _: str) -> None:
        self.say("x = 2            bind a value (x = [1, 2, 3] binds an array)")
        self.say("f = x^2 + y      name an expression; later lines use f as its graph (as it is now:")
        self.say("                 redefining f later does not change what already uses it)")
        self.say("x = x + 1        a name on both sides takes its current value")
        self.say("EXPR             evaluate at the current bindings")
        for _, text in self.commands.values():
            self.say(text)

    def cmd_quit(self, _: str) -> None:
        self.done = True

    # ------------------------------------------------------------ completion
    def complete(self, text: str, state: int):
        if text.startswith(":"):
            words = [":" + c for c in self.commands]
        else:
            words = list(self.values) + list(self.named) + [f + "(" for f in FUNCTIONS] + ["pi", "e"]
        matches = sorted(w for w in words if w.startswith(text))
        return matches[state] if state < len(matches) else None


def _split_items(text: str) -> list[str]:
    """Split on the commas outside parentheses: `1 + 2, max(1, 2)` is two items."""
    items, depth, start = [], 0, 0
    for i, c in enumerate(text):
        depth += (c == "(") - (c == ")")
        if c == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return [item for item in items if item.strip()]


def main(stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr) -> int:
    """Run a session on `stdin`: interactive on a terminal, plain when piped.
    Piped, errors go to `stderr` and the exit status is 1 if any line failed."""
    session = Session(stdout, stderr)
    interactive = stdin.isatty() and stdout.isatty()
    readline = None
    if interactive:
        _own_ctrl_c()
        readline = _setup_readline(session)
        print(BANNER, file=stdout)
    while not session.done:
        try:
            line = input("qsts> ") if interactive else stdin.readline()
            if not interactive and line == "":
                break
            session.run(line)
        except EOFError:
            break
        except KeyboardInterrupt:  # Ctrl-C cancels the line, not the session (also a second one, mid-report)
            _print_through_ctrl_c("^C", stdout)
    if interactive:
        print(file=stdout)
        _save_history(readline)
        return 0
    return 1 if session.failed else 0


def _print_through_ctrl_c(text: str, out: TextIO) -> None:
    """Print `text` even if Ctrl-C is pressed again meanwhile (each press raises anew)."""
    while True:
        try:
            print(text, file=out)
            return
        except KeyboardInterrupt:
            continue


def _own_ctrl_c() -> None:
    """Ctrl-C raises KeyboardInterrupt here whatever the session inherited: a
    shell's background job, nohup or a CI runner may start it with SIGINT ignored."""
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    except (ValueError, OSError):  # not the main thread (an embedded session): leave it be
        pass


def _setup_readline(session: Session):
    try:
        import readline
    except ImportError:  # no line editing on this platform; the session still works
        return None
    readline.set_completer(session.complete)
    readline.set_completer_delims(" \t()+-*/^,=")
    readline.parse_and_bind("tab: complete")
    try:
        readline.read_history_file(HISTORY)
    except OSError:
        pass
    return readline


def _save_history(readline) -> None:
    if readline is None:
        return
    try:
        readline.set_history_length(1000)
        readline.write_history_file(HISTORY)
    except OSError:
        pass

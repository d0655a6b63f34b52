"""Program-of-thought traces: a trace written as a Python program ("total = 6 * 9", "print(total)") states its answer
by printing it, so the prose checks (a stated answer derived, givens read right) do not apply to it. Such a trace is
run by a small interpreter of arithmetic, names, lists, loops, conditions and functions, never by ``exec``: a program
that cannot run (a name used before it is set, a division by zero) is wrong at that line; one that runs has every
calculation right by construction."""

from __future__ import annotations

import ast
import math
import operator
import re
import textwrap
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from filters.steps.text import code_lines

_FENCE = re.compile(r"^\s*```")
_BUDGET = 100_000  # statements and loop turns one trace may take
_LARGEST = 10**30  # a value beyond this (a power run away) is no quantity of a word problem

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: operator.contains(b, a),
    ast.NotIn: lambda a, b: not operator.contains(b, a),
}
_BUILTINS: dict[str, Callable[..., object]] = {
    "abs": abs, "float": float, "int": int, "len": len, "list": list, "max": max, "min": min, "range": range,
    "round": round, "str": str, "sum": sum,
}  # fmt: skip
_MATH: dict[str, object] = {
    "ceil": math.ceil, "floor": math.floor, "sqrt": math.sqrt, "pi": math.pi, "prod": math.prod, "gcd": math.gcd,
}  # fmt: skip


class Unjudged(Exception):
    """The program uses what the interpreter does not run (a library, a class, a runaway loop): nothing is judged."""


class _Fault(Exception):
    """The program fails at a line: the error Python would raise there."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


class _Return(Exception):
    def __init__(self, value: object) -> None:
        self.value = value


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


@dataclass
class ProgramRun:
    """What running a program trace gave: the 0-based steps it ran, what it printed, each assignment's step and number
    in the order made, the steps that work a number out (``total = a * b``, ``total += a``; not ``a = 5`` nor a loop's
    name), and the step it failed at with Python's message (None: it ran to its end)."""

    ran: set[int] = field(default_factory=set)
    printed: list[object] = field(default_factory=list)
    assigned: list[tuple[int, float]] = field(default_factory=list)
    computing: set[int] = field(default_factory=set)
    fault: tuple[int, str] | None = None


def program_source(trace: str, steps: int) -> str | None:
    """The Python program a trace of ``steps`` steps is, one line a step, step labels cut and code fences blanked;
    None where it is prose (it prints nothing, does not parse, or assigns nothing)."""
    if "print(" not in trace:
        return None  # most traces: prose, told apart without parsing
    lines = code_lines(trace)
    if len(lines) != steps:
        return None  # one paragraph, its steps its sentences
    source = textwrap.dedent("\n".join("" if _FENCE.match(line) else line for line in lines))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)  # prose ("the 3rd day") warns as it fails to parse
            tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    nodes = list(ast.walk(tree))
    assigns = any(isinstance(n, ast.Assign | ast.AugAssign) for n in nodes)
    prints = any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print" for n in nodes)
    return source if assigns and prints else None


def run_program(source: str) -> ProgramRun:
    """Run a program trace's ``source`` (from ``program_source``); raises ``Unjudged`` where it cannot be run here."""
    interpreter = _Interpreter()
    try:
        interpreter.block(ast.parse(source).body, interpreter.globals)
    except _Fault as fault:
        interpreter.run.fault = (fault.line - 1, str(fault))
    except (_Return, _Break, _Continue) as stray:
        raise Unjudged(f"{type(stray).__name__} outside its place") from None
    except RecursionError:
        raise Unjudged("the program recurses too deep") from None
    return interpreter.run


class _Interpreter:
    def __init__(self) -> None:
        self.run = ProgramRun()
        self.globals: dict[str, object] = {}
        self.functions: dict[str, ast.FunctionDef] = {}
        self.turns = 0

    def tick(self) -> None:
        self.turns += 1
        if self.turns > _BUDGET:
            raise Unjudged("the program runs too long")

    def turn(self, body: list[ast.stmt], scope: dict[str, object]) -> bool:
        """One pass of a loop's body; False where it breaks out of the loop."""
        try:
            self.block(body, scope)
        except _Break:
            return False
        except _Continue:
            pass
        return True

    def block(self, body: list[ast.stmt], scope: dict[str, object]) -> None:
        for statement in body:
            self.tick()
            self.run.ran.add(statement.lineno - 1)
            try:
                self.statement(statement, scope)
            except (NameError, ZeroDivisionError, TypeError, IndexError, KeyError, ValueError, OverflowError) as e:
                raise _Fault(statement.lineno, f"{type(e).__name__}: {e}") from None

    def statement(self, node: ast.stmt, scope: dict[str, object]) -> None:
        match node:
            case ast.Assign(targets=targets, value=value):
                result = self.value(value, scope)
                if not isinstance(value, ast.Constant | ast.Name):
                    self.run.computing.add(node.lineno - 1)
                for target in targets:
                    self.assign(target, result, scope, node.lineno)
            case ast.AugAssign(target=ast.Name(id=name), op=op, value=value):
                if name not in scope and name not in self.globals:
                    raise NameError(f"name {name!r} is not defined")
                current = scope.get(name, self.globals.get(name))
                self.run.computing.add(node.lineno - 1)
                self.assign(node.target, self.binary(op, current, self.value(value, scope)), scope, node.lineno)
            case ast.AnnAssign(target=target, value=value) if value is not None:
                self.assign(target, self.value(value, scope), scope, node.lineno)
            case ast.Expr(value=value):
                self.value(value, scope)
            case ast.If(test=test, body=body, orelse=orelse):
                self.block(body if self.value(test, scope) else orelse, scope)
            case ast.For(target=target, iter=iterable, body=body, orelse=orelse):
                for item in self.iterable(self.value(iterable, scope)):
                    self.assign(target, item, scope, node.lineno)
                    if not self.turn(body, scope):
                        break
                else:
                    self.block(orelse, scope)
            case ast.While(test=test, body=body, orelse=orelse):
                while self.value(test, scope):
                    self.tick()
                    if not self.turn(body, scope):
                        break
                else:
                    self.block(orelse, scope)
            case ast.FunctionDef(name=name):
                self.functions[name] = node
            case ast.Return(value=value):
                raise _Return(None if value is None else self.value(value, scope))
            case ast.Import(names=names) | ast.ImportFrom(module="math", names=names) if all(
                alias.name == "math" or (isinstance(node, ast.ImportFrom) and alias.name in _MATH) for alias in names
            ):
                for alias in names:
                    name = alias.asname or alias.name
                    scope[name] = _MATH if alias.name == "math" else _MATH[alias.name]
            case ast.Pass():
                pass
            case ast.Break():
                raise _Break
            case ast.Continue():
                raise _Continue
            case _:
                raise Unjudged(f"a {type(node).__name__} statement")

    def assign(self, target: ast.expr, value: object, scope: dict[str, object], line: int) -> None:
        match target:
            case ast.Name(id=name):
                scope[name] = value
                if isinstance(value, int | float) and not isinstance(value, bool):
                    self.run.assigned.append((line - 1, float(value)))
            case ast.Tuple(elts=names) | ast.List(elts=names):
                items = list(self.iterable(value))
                if len(items) != len(names):
                    raise ValueError(f"{len(items)} values to unpack into {len(names)} names")
                for part, item in zip(names, items, strict=True):
                    self.assign(part, item, scope, line)
            case _:
                raise Unjudged(f"an assignment to a {type(target).__name__}")

    def call_builtin(self, callee: Callable[..., Any], args: list[Any]) -> Any:
        if callee is range and len(range(*args)) > _BUDGET:
            raise Unjudged("a range too long to walk")
        return callee(*args)

    def iterable(self, value: object) -> list[object]:
        if isinstance(value, range | list | tuple | str):
            if len(value) > _BUDGET:
                raise Unjudged("the program runs too long")
            return list(value)
        raise TypeError(f"{type(value).__name__!r} object is not iterable")

    def binary(self, op: ast.operator, left: Any, right: Any) -> Any:
        if type(op) not in _BINARY:
            raise Unjudged(f"the operator {type(op).__name__}")
        if isinstance(op, ast.Pow) and isinstance(right, int | float) and abs(right) > 64:
            raise Unjudged("a power too large to be a quantity")
        if isinstance(op, ast.Mult) and any(isinstance(side, list | str) for side in (left, right)):
            sequence, times = (left, right) if isinstance(left, list | str) else (right, left)
            if isinstance(times, int) and len(sequence) * times > _BUDGET:
                raise Unjudged("a list or text too long to build")
        result = _BINARY[type(op)](left, right)
        if isinstance(result, int | float) and abs(result) > _LARGEST:
            raise Unjudged("a value too large to be a quantity")
        return result

    def value(self, node: ast.expr, scope: dict[str, Any]) -> Any:
        match node:
            case ast.Constant(value=value):
                return value
            case ast.Name(id=name):
                for names in (scope, self.globals, _BUILTINS):
                    if name in names:
                        return names[name]
                raise NameError(f"name {name!r} is not defined")
            case ast.BinOp(left=left, op=op, right=right):
                return self.binary(op, self.value(left, scope), self.value(right, scope))
            case ast.UnaryOp(op=ast.USub(), operand=operand):
                return -self.value(operand, scope)
            case ast.UnaryOp(op=ast.UAdd(), operand=operand):
                return self.value(operand, scope)
            case ast.UnaryOp(op=ast.Not(), operand=operand):
                return not self.value(operand, scope)
            case ast.BoolOp(op=op, values=values):
                result: object = isinstance(op, ast.And)
                for part in values:
                    result = self.value(part, scope)
                    if bool(result) != isinstance(op, ast.And):
                        return result
                return result
            case ast.Compare(left=left, ops=ops, comparators=comparators):
                current = self.value(left, scope)
                for comparison, comparator in zip(ops, comparators, strict=True):
                    if type(comparison) not in _COMPARE:
                        raise Unjudged(f"the comparison {type(comparison).__name__}")
                    following = self.value(comparator, scope)
                    if not _COMPARE[type(comparison)](current, following):
                        return False
                    current = following
                return True
            case ast.IfExp(test=test, body=body, orelse=orelse):
                return self.value(body if self.value(test, scope) else orelse, scope)
            case ast.List(elts=items) | ast.Tuple(elts=items):
                return [self.value(item, scope) for item in items]
            case ast.Subscript(value=container, slice=index):
                return self.value(container, scope)[self.value(index, scope)]
            case ast.JoinedStr(values=parts):
                return "".join(str(self.value(part, scope)) for part in parts)
            case ast.FormattedValue(value=value, format_spec=spec):
                formatted = self.value(value, scope)
                return format(formatted, str(self.value(spec, scope))) if spec is not None else str(formatted)
            case ast.Attribute(value=ast.Name(id=module), attr=attr) if (
                scope.get(module, self.globals.get(module)) is _MATH and attr in _MATH
            ):
                return _MATH[attr]
            case ast.Call(func=func, args=args, keywords=[]):
                return self.call(func, [self.value(arg, scope) for arg in args], scope)
            case _:
                raise Unjudged(f"a {type(node).__name__} expression")

    def call(self, func: ast.expr, args: list[object], scope: dict[str, object]) -> object:
        if isinstance(func, ast.Name) and func.id == "print":
            self.run.printed.extend(args)
            return None
        if isinstance(func, ast.Name) and func.id in self.functions:
            definition = self.functions[func.id]
            names = [arg.arg for arg in definition.args.args]
            if len(names) != len(args) or definition.args.vararg or definition.args.kwonlyargs:
                raise TypeError(f"{func.id}() takes {len(names)} arguments, {len(args)} given")
            try:
                self.block(definition.body, dict(zip(names, args, strict=True)))
            except _Return as returned:
                return returned.value
            return None
        if isinstance(func, ast.Attribute) and func.attr == "append" and isinstance(func.value, ast.Name):
            target = self.value(func.value, scope)
            if isinstance(target, list) and len(args) == 1:
                target.append(args[0])
                return None
        callee = self.value(func, scope)
        if callable(callee) and (callee in _BUILTINS.values() or callee in _MATH.values()):
            return self.call_builtin(callee, args)
        raise Unjudged("a call the interpreter does not know")

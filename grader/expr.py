"""Arithmetic on dimension symbols for rubric values such as ``sqrt(2 / C_in)`` or ``1/N``.

Parsed with ``ast`` and evaluated over a whitelist: numbers, symbols, + - * / ** and sqrt."""
from __future__ import annotations

import math
import operator

from grader.errors import GraderError

_FUNCTIONS = {"sqrt": math.sqrt}


def number(text: str | float) -> float | None:
    """A plain number needs no parsing (and no ast: the common case stays cheap)."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def evaluate(text: str | float, symbols: dict[str, float]) -> float:
    """The value of ``text`` with ``symbols`` bound; GraderError on anything else."""
    value = number(text)
    if value is not None:
        return value
    import ast

    try:
        tree = ast.parse(str(text), mode="eval")
        return float(_eval(tree.body, symbols))
    except (SyntaxError, ZeroDivisionError, OverflowError, ValueError) as exc:
        raise GraderError(f"cannot evaluate {text!r}: {exc}") from None


def names(text: str | float) -> set[str]:
    """The symbols an expression uses (to validate it against the dimensions)."""
    if number(text) is not None:
        return set()
    import ast

    try:
        tree = ast.parse(str(text), mode="eval")
    except SyntaxError as exc:
        raise GraderError(f"cannot parse {text!r}: {exc.msg}") from None
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - set(_FUNCTIONS)


def _eval(node, symbols: dict[str, float]) -> float:
    import ast

    binary = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
              ast.Div: operator.truediv, ast.Pow: operator.pow}
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in symbols:
            raise ValueError(f"unknown symbol {node.id!r}")
        return symbols[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in binary:
        return binary[type(node.op)](_eval(node.left, symbols), _eval(node.right, symbols))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _eval(node.operand, symbols)
        return -value if isinstance(node.op, ast.USub) else value
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in _FUNCTIONS and len(node.args) == 1 and not node.keywords):
        return _FUNCTIONS[node.func.id](_eval(node.args[0], symbols))
    raise ValueError(f"unsupported expression {ast.dump(node)[:60]}")

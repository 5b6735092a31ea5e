"""No function of dispatcher/ is longer than 60 lines."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

LONGEST = 60


def test_no_function_in_dispatcher_is_over_60_lines() -> None:
    """Every def in dispatcher/, decorators left out, spans at most 60 lines."""
    long_ones = []
    for path in sorted((REPO / "dispatcher").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > LONGEST:
                    long_ones.append(f"{Path(path).relative_to(REPO)}:{node.lineno} {node.name}")
    assert long_ones == []

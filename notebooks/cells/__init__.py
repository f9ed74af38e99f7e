"""The notebooks' cells as plain text, one module per notebook (its `CELLS`), so they
review as code; notebooks/build_notebooks.py assembles and writes them."""

from __future__ import annotations

from textwrap import dedent

from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell


def md(text: str) -> NotebookNode:
    """A markdown cell from indented text."""
    return new_markdown_cell(dedent(text).strip("\n"))


def code(text: str) -> NotebookNode:
    """A code cell from indented text."""
    return new_code_cell(dedent(text).strip("\n"))

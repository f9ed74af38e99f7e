"""Write the notebooks from plain cells (in notebooks/cells/, one module per notebook).

    .venv/bin/python notebooks/build_notebooks.py

Each notebook tells one story and is written without outputs, with fixed cell ids, so the
committed files are exactly what this script writes (tests/test_notebooks.py checks it and
runs every notebook on a real kernel). Every notebook runs offline, with or without the
real captures beside the repository (../shared/data, or $WORKBENCH_SHARED_DATA), and
writes only under a temporary directory.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_notebook

HERE = Path(__file__).parent
if str(HERE) not in sys.path:  # the cells package sits beside this script
    sys.path.insert(0, str(HERE))

from cells import liquidation, live, orders, paper_trade, record, strategy, sweep  # noqa: E402

NOTEBOOKS = {
    "01_record_and_explore.ipynb": record.CELLS,
    "02_liquidation_rules.ipynb": liquidation.CELLS + orders.CELLS,
    "03_strategy_on_real_captures.ipynb": strategy.CELLS,
    "04_paper_trade_with_client.ipynb": paper_trade.CELLS,
    "05_parameter_sweep.ipynb": sweep.CELLS,
    "06_same_strategy_live.ipynb": live.CELLS,
}


def build(name: str) -> NotebookNode:
    """The notebook `name`, without outputs and with stable cell ids."""
    nb = new_notebook(cells=copy.deepcopy(NOTEBOOKS[name]))
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{name[:2]}-{i:02d}"
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def text(name: str) -> str:
    """What `write_all` writes for `name`."""
    return nbformat.writes(build(name)) + "\n"


def write_all() -> list[Path]:
    paths = []
    for name in NOTEBOOKS:
        path = HERE / name
        path.write_text(text(name), encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in write_all():
        print("wrote", p)

"""Every worked scenario in docs/rules.md prints, through `workbench simulate`'s runner,
exactly the events the page shows: the documented figures are the engine's."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from workbench import scenario

DOCS = Path(__file__).parents[1] / "docs"
BLOCK = re.compile(r"```json\n(.*?)```", re.S)


def _pairs() -> list[tuple[str, str, str]]:
    """(name, input lines, printed lines) of each "<input> prints <output>" in rules.md."""
    text = (DOCS / "rules.md").read_text()
    blocks = list(BLOCK.finditer(text))
    out = []
    for before, after in zip(blocks, blocks[1:], strict=False):
        between = text[before.end() : after.start()]
        link = re.search(r"\((examples/[\w.-]+\.jsonl)\)", between)
        if between.strip() == "prints":
            source = before.group(1)
        elif link and between.rstrip().endswith("prints:"):
            source = (DOCS / link.group(1)).read_text()
        else:
            continue
        line = text.count("\n", 0, after.start()) + 1
        out.append((f"rules.md:{line}", source, after.group(1)))
    return out


PAIRS = _pairs()


def test_the_page_has_its_examples() -> None:
    assert len(PAIRS) >= 5  # the fee and spec examples, and those of sections 17 and 18


@pytest.mark.parametrize(("where", "source", "printed"), PAIRS, ids=[p[0] for p in PAIRS])
def test_documented_scenario_prints_what_the_page_shows(
    where: str, source: str, printed: str
) -> None:
    out = io.StringIO()
    scenario.run(source.splitlines(), out, source=where)
    assert out.getvalue().splitlines() == printed.strip().splitlines()

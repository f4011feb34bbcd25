"""The planted-bug list of tools/mutants.py stays in step with the code and the tests (running the mutants
themselves takes minutes: `python tools/mutants.py`)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("mutants", ROOT / "tools" / "mutants.py")
mutants = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mutants)


@pytest.mark.parametrize("mutant", mutants.MUTANTS, ids=lambda m: m.name)
def test_each_mutant_changes_one_place_and_names_tests_that_exist(mutant) -> None:
    source = (ROOT / mutant.file).read_text(encoding="utf-8")
    assert source.count(mutant.old) == 1 and mutant.old != mutant.new
    for node in mutant.tests:
        file, _, name = node.partition("::")
        text = (ROOT / file).read_text(encoding="utf-8")
        assert not name or re.search(rf"^def {re.escape(name)}\(", text, re.M), node


def test_mutant_names_are_unique() -> None:
    names = [m.name for m in mutants.MUTANTS]
    assert len(names) == len(set(names))

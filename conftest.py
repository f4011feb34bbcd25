"""Repository-wide pytest hooks: the time of every lesson notebook, printed at the end of the run.

nbval collects one item per cell; the per-cell times are summed per notebook (setup, call and
teardown, so the kernel's start counts) and shown after the test summary.
"""
from __future__ import annotations

from collections import defaultdict

import pytest

_NOTEBOOK_SECONDS: dict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = report.nodeid.split("::", 1)[0]
    if path.endswith(".ipynb"):
        _NOTEBOOK_SECONDS[path] += report.duration


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if not _NOTEBOOK_SECONDS:
        return
    terminalreporter.section("time per lesson notebook")
    for path, seconds in sorted(_NOTEBOOK_SECONDS.items()):
        terminalreporter.write_line(f"{seconds:7.1f} s  {path}")
    terminalreporter.write_line(f"{sum(_NOTEBOOK_SECONDS.values()):7.1f} s  all {len(_NOTEBOOK_SECONDS)} notebooks")

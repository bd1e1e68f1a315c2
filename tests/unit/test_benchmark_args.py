"""scripts/benchmark.py: its arguments (the benchmark itself is not part of the test suite)."""

from __future__ import annotations

import importlib.util
from datetime import date

import pytest

from household_monitoring import config


def _benchmark():
    spec = importlib.util.spec_from_file_location("benchmark", config.PROJECT_ROOT / "scripts" / "benchmark.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_defaults_are_the_three_scales_a_year_of_history_and_thirty_days():
    args = _benchmark().parse_args([])
    assert args.scales == [3000, 100_000, 1_000_000]
    assert (args.history_days, args.days, args.start, args.rows) == (365, 30, date(2024, 7, 15), 1_000_000)
    assert args.steps == {"generate", "history", "delta", "loader"}


def test_one_scale_some_steps_and_bad_arguments():
    bench = _benchmark()
    args = bench.parse_args(["--scales", "3000", "--steps", "generate,delta", "--days", "2", "--history-days", "0"])
    assert (args.scales, args.steps, args.days, args.history_days) == ([3000], {"generate", "delta"}, 2, 0)
    with pytest.raises(SystemExit):
        bench.parse_args(["--steps", "generate,fly"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--days", "0"])

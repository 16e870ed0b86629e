"""benchmarks/playground.py's summaries against an independent computation (the statistics module).

The script is loaded as a script (runpy, which defines no flags: only running it as __main__ does),
not imported: benchmarks/ is no package."""

import os
import runpy
import statistics
import types

import pytest

from tests.helpers import REPO

playground = types.SimpleNamespace(**runpy.run_path(os.path.join(REPO, "benchmarks", "playground.py"),
                                                    run_name="playground"))


def test_percentiles_are_the_inclusive_quantiles_in_milliseconds():
    seconds = [0.120, 0.015, 0.300, 0.045, 0.080, 0.200, 0.010, 0.095, 0.150, 0.060, 0.033]
    summary = playground.summarize(seconds)
    in_ms = [value * 1e3 for value in seconds]
    deciles = statistics.quantiles(in_ms, n=10, method="inclusive")
    assert summary["n"] == 11
    assert summary["p50_ms"] == pytest.approx(statistics.median(in_ms))
    assert summary["p90_ms"] == pytest.approx(deciles[8])
    assert (summary["min_ms"], summary["max_ms"]) == pytest.approx((10.0, 300.0))
    # An even count: the median is the mean of the two middle values, the 90th percentile interpolated.
    summary = playground.summarize([0.004, 0.001, 0.003, 0.002])
    assert summary["p50_ms"] == pytest.approx(2.5)
    assert summary["p90_ms"] == pytest.approx(statistics.quantiles([1, 2, 3, 4], n=10, method="inclusive")[8])
    assert playground.median([3.0, 1.0, 2.0, 10.0]) == pytest.approx(2.5)
    with pytest.raises(ValueError):
        playground.summarize([])

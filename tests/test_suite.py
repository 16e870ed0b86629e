"""The suite itself: the tiers `make test-integration` (pytest -m integration) and `make test-slow`
(pytest -m slow) select tests instead of exiting 5."""

import re
import subprocess
import sys

import pytest

from tests import helpers


@pytest.mark.integration  # pytest itself in a fresh process
@pytest.mark.parametrize("tier", ["integration", "slow"])
def test_each_tier_selects_tests(tier):
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", tier, "tests"],
                            cwd=helpers.REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    selected = int(re.search(r"(\d+)/\d+ tests collected", result.stdout).group(1))
    assert selected >= 1

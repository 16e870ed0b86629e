"""The suite itself: `make test-slow` (pytest -m slow) selects tests instead of exiting 5."""

import re
import subprocess
import sys

from tests import helpers


def test_the_slow_selection_is_not_empty():
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "slow", "tests"],
                            cwd=helpers.REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    selected = int(re.search(r"(\d+)/\d+ tests collected", result.stdout).group(1))
    assert selected >= 1

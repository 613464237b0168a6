"""Without Chromium the browser tests are skipped with the reason; under CI=true they fail."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ONE_TEST = "tests/browser/test_shell.py::test_home_page_loads_with_its_assets_and_no_csp_violation"


def run_without_browser(ci: bool) -> subprocess.CompletedProcess:
    env = {**os.environ, "CHROMIUM_PATH": "/nonexistent/chromium", "CI": "true" if ci else ""}
    return subprocess.run([sys.executable, "-m", "pytest", ONE_TEST, "-q", "-rs"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


def test_a_missing_browser_skips_with_the_reason():
    result = run_without_browser(ci=False)
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout
    assert "/nonexistent/chromium is missing" in result.stdout


def test_a_missing_browser_fails_under_ci():
    result = run_without_browser(ci=True)
    assert result.returncode == 1, result.stdout
    assert "CI=true and /nonexistent/chromium is missing" in result.stdout

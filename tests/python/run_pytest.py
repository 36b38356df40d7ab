"""Runs the Python package's tests with pytest, for meson test: exit 77 (SKIP), with the
reason, when pytest or numpy is missing, when every test skipped, or when the backend's device
was not there (tests that need none still pass); pytest's status otherwise.
    python3 run_pytest.py [pytest arguments]
"""
import os
import sys

SKIP = 77

try:
    import numpy  # noqa: F401
    import pytest
except ImportError as error:
    print("SKIP: the Python tests need pytest and numpy (Debian: python3-pytest, "
          "python3-numpy): %s" % error)
    sys.exit(SKIP)


class Outcomes:
    """Counts what ran, and keeps the reasons of skips."""

    def __init__(self):
        self.passed = 0
        self.skips = []

    def pytest_runtest_logreport(self, report):
        if report.when == "call" and report.passed:
            self.passed += 1
        if report.skipped:
            self.skips.append("%s: %s" % (report.nodeid, report.longrepr[2]
                                          if isinstance(report.longrepr, tuple)
                                          else report.longrepr))


outcomes = Outcomes()
here = os.path.dirname(os.path.abspath(__file__))
status = pytest.main(["-p", "no:cacheprovider", "-q", "-rs", here] + sys.argv[1:],
                     plugins=[outcomes])
if status == 0 and outcomes.passed == 0:
    print("SKIP: no test ran; skipped: %s" % "; ".join(outcomes.skips))
    sys.exit(SKIP)
# Tests that need no device pass anywhere: without the backend's device the run is a SKIP.
no_device = [reason for reason in outcomes.skips if "no device:" in reason]
if status == 0 and no_device:
    print("SKIP: the backend's device is not here, so only tests that need none ran: %s"
          % no_device[0])
    sys.exit(SKIP)
sys.exit(int(status))

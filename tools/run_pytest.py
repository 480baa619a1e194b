"""Run pytest and turn its exit codes into a plain pass/fail: "no tests collected" (5) is a failure too."""

from __future__ import annotations

import sys

import pytest

EXIT_MEANINGS = {
    0: "all tests passed",
    1: "some tests failed",
    2: "test run interrupted",
    3: "internal pytest error",
    4: "pytest usage error",
    5: "no tests were collected",
}


def main(argv: list[str]) -> int:
    code = int(pytest.main(argv))
    if code != 0:
        print(f"run_pytest: pytest exited {code} ({EXIT_MEANINGS.get(code, 'unknown')}): failing", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

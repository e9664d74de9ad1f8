"""The export toolchains in tests: skipped where they are not installed, required in CI."""
import os
from pathlib import Path

import pytest

from exporters.toolchains import ToolchainMissing, toolchain


def require(role: str) -> Path:
    """The toolchain of `role`; a skip on a developer machine without it, a failure in CI
    (CI=true), where .ci/setup has installed it."""
    try:
        return toolchain(role)
    except ToolchainMissing:
        if os.environ.get('CI') == 'true':
            raise
        pytest.skip(f'{role} toolchain not installed (bash .ci/setup installs it)')

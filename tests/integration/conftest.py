import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "emulators"))

from kilntest import Machine  # noqa: E402


@pytest.fixture
def machine(tmp_path):
    return Machine(tmp_path / "root")

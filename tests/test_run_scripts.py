"""runs/yield_session.sh: a long run started with setsid gives its own session's scheduling group
nice 19, and one started inside a caller's session leaves the caller's group alone."""
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SNIPPET = ". runs/yield_session.sh; cat /proc/self/autogroup"

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/autogroup").exists() or shutil.which("setsid") is None,
    reason="needs Linux autogroup scheduling and setsid")


def _group_nice(text: str) -> int:
    return int(text.split("nice")[-1])


def test_a_session_leader_yields_its_group():
    out = subprocess.run(["setsid", "bash", "-c", SNIPPET], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    assert _group_nice(out) == 19


def test_a_script_inside_another_session_leaves_that_group_alone():
    before = Path("/proc/self/autogroup").read_text()
    out = subprocess.run(["bash", "-c", SNIPPET], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    # The whole line: a caller in the kernel's root group (CI's shell, which no setsid ever moved)
    # reads an empty file, and must still read it empty afterwards, not a nice it never had.
    assert out == before

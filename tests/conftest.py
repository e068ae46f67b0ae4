"""Shared test settings: quiet TF, a few threads, and where the optional shared data lives."""
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

SHARED_DATA = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data():
    """Path to ../shared/data; tests that need it are skipped where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not present at {SHARED_DATA}")
    return SHARED_DATA


def kill_once(proc, ready, *, timeout: float = 300.0):
    """SIGKILLs subprocess ``proc`` as soon as ``ready()`` is true (fails the test if it exits
    first or ``ready`` never holds within ``timeout`` seconds), and reaps it."""
    import signal
    import time

    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            if ready():
                break
            assert proc.poll() is None, "training exited before it could be killed"
            time.sleep(0.05)
        else:
            pytest.fail("no checkpoint appeared")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()

"""Suite-wide: no test may leave a process behind.

Every process a test starts inherits ``VTON_TEST_SESSION`` (set here, once per session).
When the session ends, any process still carrying it (torchrun workers orphaned by a
killed launcher, a server a test forgot) is listed, killed, and fails the run.
Launch commands through ``tests/helpers.py``, which kills a whole process tree on timeout.
"""
from __future__ import annotations

import os
import uuid

import pytest

from helpers import SESSION_ENV, kill_tree, leftovers


def pytest_configure(config):
    os.environ[SESSION_ENV] = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"


def pytest_sessionfinish(session, exitstatus):
    left = leftovers(os.environ[SESSION_ENV])
    if not left:
        return
    lines = []
    for p in left:
        try:
            lines.append(f"  pid {p.pid}: {' '.join(p.cmdline())[:300]}")
            kill_tree(p.pid, grace=1.0)
            p.kill()
        except Exception:
            pass
    message = f"{len(left)} process(es) started by the tests were still alive at the end (now killed):\n" + "\n".join(lines)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(message, red=True)
    else:
        print(message)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for in-process model work: the machine's cores are shared (with the other tests' processes,
    often), and there one thread is several times faster than two. Module-scoped: ``pytestmark =
    pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

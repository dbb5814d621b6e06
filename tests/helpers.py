"""Starting the project's commands from tests (and from ``bench/soak_training.py``): one place.

Every command runs in a session of its own with its pipes captured. On a timeout the
whole tree it started is killed, not only the command: ``torchrun`` starts each worker
in a session of its own (``setsid``), so killing torchrun, or even its process group,
leaves the workers running (an orphan that holds its port and a CPU, as issue 11 saw).
The tree is found from the process table before anything is killed.

`SESSION_ENV` is set by ``tests/conftest.py`` for the whole test session; every process
a test starts inherits it, which is how the session finds any that outlived it.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
SESSION_ENV = "VTON_TEST_SESSION"
TORCHRUN = str(Path(sys.executable).with_name("torchrun"))


class LaunchTimeout(AssertionError):
    """A launched command ran past its time; it and everything it started were killed."""


def command_env(**extra: str) -> dict[str, str]:
    """The environment a launched command gets: ours, the repository importable, one torch thread per process."""
    return dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1") | extra


def descendants(pid: int) -> list[psutil.Process]:
    """Every process below ``pid`` (children, grandchildren, ...), even those in sessions of their own."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def kill_tree(pid: int, *, grace: float = 5.0) -> None:
    """Stop ``pid`` and everything it started: SIGTERM (torchrun passes it on to its workers), then SIGKILL.

    ``pid`` must lead its own process group (`start` makes sure of that).
    """
    tree = descendants(pid)
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    _, alive = psutil.wait_procs([p for p in tree if p.is_running()], timeout=grace)
    for group in {pid} | {p.pid for p in tree}:
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for p in alive + tree:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


def start(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path = REPO, stdout=subprocess.PIPE,
          stderr=subprocess.PIPE) -> subprocess.Popen:
    """`subprocess.Popen` in a new session (so its group can be killed), pipes captured by default."""
    return subprocess.Popen([str(c) for c in cmd], cwd=cwd, env=env or command_env(), stdout=stdout, stderr=stderr,
                            text=True, start_new_session=True)


def finish(proc: subprocess.Popen, timeout: float) -> subprocess.CompletedProcess:
    """Wait for ``proc`` (draining its pipes); past ``timeout`` kill its tree and raise `LaunchTimeout`."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:  # something still holds the pipes: give up on the output
            out, err = "", ""
        raise LaunchTimeout(f"{' '.join(map(str, proc.args[:8]))} ... ran past {timeout:.0f} s; it and every process it "
                            f"started were killed. Its stderr ended with:\n{(err or '')[-3000:]}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def run(cmd: list, *, timeout: float = 300, env: dict[str, str] | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """Run ``cmd`` with its output captured (text); kill its whole tree after ``timeout`` seconds."""
    return finish(start(cmd, env=env, cwd=cwd), timeout)


def vton(*args, timeout: float = 300, env: dict[str, str] | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """``python -m vton ARGS``."""
    return run([sys.executable, "-m", "vton", *map(str, args)], timeout=timeout, env=env, cwd=cwd)


def torchrun(*args, nproc: int = 2, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``torchrun --nproc_per_node N --standalone -m vton ARGS`` (standalone: a free port of its own)."""
    return run([TORCHRUN, "--nproc_per_node", str(nproc), "--standalone", "-m", "vton", *map(str, args)],
               timeout=timeout, env=env)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_ranks(args, folder: Path, *, world: int = 2, env: dict[str, str] | None = None) -> list[subprocess.Popen]:
    """``python -m vton ARGS`` as ``world`` processes of one run, without torchrun (as on separate machines).

    Rank 0 keeps the rendezvous store (``env://``). Each rank's stdout and stderr go to
    ``folder/rank{r}.out`` / ``.err`` (files: nobody has to drain them).
    """
    folder.mkdir(parents=True, exist_ok=True)
    port = str(free_port())
    procs = []
    for rank in range(world):
        rank_env = command_env(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(world),
                               MASTER_ADDR="127.0.0.1", MASTER_PORT=port) | (env or {})
        with open(folder / f"rank{rank}.out", "w") as out, open(folder / f"rank{rank}.err", "w") as err:
            procs.append(start([sys.executable, "-m", "vton", *map(str, args)], env=rank_env, stdout=out, stderr=err))
    return procs


def wait_ranks(procs: list[subprocess.Popen], timeout: float) -> list[int]:
    """Exit codes of ``procs``; past ``timeout`` all their trees are killed and `LaunchTimeout` raised."""
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for q in procs:
                kill_tree(q.pid, grace=1.0)
            raise LaunchTimeout(f"{len(procs)} ranks ran past {timeout:.0f} s and were killed") from None
    return [p.returncode for p in procs]


def leftovers(marker: str, *, grace: float = 5.0) -> list[psutil.Process]:
    """Processes other than this one whose environment carries ``SESSION_ENV=marker``, after ``grace`` seconds.

    multiprocessing's own helpers (the resource tracker, the forkserver) end with this
    process and are not counted.
    """
    def find() -> list[psutil.Process]:
        found = []
        for p in psutil.process_iter():
            if p.pid == os.getpid():
                continue
            try:
                if p.status() == psutil.STATUS_ZOMBIE or p.environ().get(SESSION_ENV) != marker:
                    continue
                if p.ppid() == os.getpid() and any("multiprocessing" in part for part in p.cmdline()):
                    continue
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            found.append(p)
        return found

    deadline = time.monotonic() + grace
    found = find()
    while found and time.monotonic() < deadline:
        time.sleep(0.2)
        found = find()
    return found

"""The measured child runner: wall time, peak memory, a memory cap that reports out of memory."""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from bench.child import GIB, MIB, OOM_EXIT, _tree_rss, run_child


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_child_reports_exit_status_and_output():
    child = run_child(_python("import sys; print('hi'); sys.exit(3)"))
    assert child.returncode == 3
    assert child.stdout.strip() == "hi"
    assert child.status == "failed (exit 3)"
    assert not child.ok


def test_child_peak_rss_sees_memory_the_child_touched():
    # Seconds of life for samples 0.05 s apart: a sampler starved by a loaded machine still
    # reads the child before it ends.
    child = run_child(_python("import time; b = bytearray(300 * 2**20); time.sleep(3)"))
    assert child.ok
    assert child.peak_rss >= 300 * MIB


def test_child_peak_rss_is_not_the_parents_size():
    # Linux carries the parent's high-water mark into a forked child's `ru_maxrss`: a child of a
    # big benchmark process must still report its own peak.
    ballast = bytearray(400 * MIB)
    ballast[::4096] = b"x" * len(range(0, len(ballast), 4096))
    child = run_child(_python("import time; time.sleep(0.3)"))
    assert child.ok
    assert child.peak_rss < 200 * MIB, child.peak_rss
    del ballast


def test_child_over_its_memory_cap_is_reported_out_of_memory():
    child = run_child(_python("b = bytearray(2 * 2**30)"), memory_cap=GIB)
    assert child.out_of_memory
    assert child.status == "out of memory"
    assert "MemoryError" in child.stderr


def test_engine_exit_code_for_out_of_memory_is_recognised():
    child = run_child(_python(f"import sys; sys.exit({OOM_EXIT})"))
    assert child.out_of_memory


def test_a_failure_under_a_cap_without_memory_signs_is_not_out_of_memory():
    child = run_child(_python("raise ValueError('bad input')"), memory_cap=GIB)
    assert child.returncode == 1 and not child.out_of_memory


def test_child_past_its_timeout_is_killed():
    child = run_child(_python("import time; time.sleep(30)"), timeout=0.5)
    assert child.timed_out
    assert child.seconds < 10
    assert child.status == "timed out"


def test_child_names_the_processes_of_its_tree_so_a_jvm_would_show():
    # (seconds of life, so a sampler starved by a loaded machine still sees it)
    spawning = "import subprocess; subprocess.run(['sleep', '3'])"
    child = run_child(_python(spawning))
    assert child.ok and "sleep" in child.processes
    assert not child.started_jvm


class _Member:
    """A process of a tree as psutil shows it: a pid, its parent, a name, its memory."""

    def __init__(self, pid: int, parent: int, name: str, vms: int, rss: int, children=()):
        self.pid, self._parent, self._name = pid, parent, name
        self._memory, self._children = SimpleNamespace(vms=vms, rss=rss), children

    def ppid(self) -> int:
        return self._parent

    def name(self) -> str:
        return self._name

    def memory_info(self):
        return self._memory

    def children(self, recursive: bool = False):
        return list(self._children)


def test_a_vforked_child_of_the_jvm_is_not_counted_twice(monkeypatch):
    from bench import child

    not_execd = {3, 4}
    monkeypatch.setattr(child, "_same_address_space", lambda pid, other: None)
    monkeypatch.setattr(child, "_forked_not_execd", lambda pid: pid in not_execd)
    jvm = _Member(2, 1, "java", 20 * GIB, 4 * GIB)
    # runs in the JVM's memory until its exec (its RSS read a moment later than the JVM's)
    spawning = _Member(3, 2, "Thread-4", 20 * GIB, 4 * GIB + MIB)
    forked = _Member(4, 1, "python3.12", 3 * GIB, 64 * MIB)  # a fork with memory of its own
    # listed before the JVM it was forked from, as psutil may list them
    tree = _Member(1, 0, "python3.12", GIB, 128 * MIB, children=(spawning, jvm, forked))
    names: set[str] = set()
    assert _tree_rss(tree, names) == 4 * GIB + 128 * MIB + 64 * MIB
    assert names == {"java", "Thread-4", "python3.12"}


def test_a_vforked_child_read_while_the_jvm_maps_memory_is_still_not_counted(monkeypatch):
    from bench import child

    jvm = _Member(2, 1, "java", 20 * GIB, 2 * GIB)
    # its size read a moment after the JVM's, once the JVM had grown its heap by 64 MiB
    spawning = _Member(3, 2, "Executor task l", 20 * GIB + 64 * MIB, 2 * GIB + 64 * MIB)
    # not exec'd either, but a size of its own: a fork that has grown apart is counted
    apart = _Member(4, 2, "java", 10 * GIB, 512 * MIB)
    monkeypatch.setattr(child, "_same_address_space", lambda pid, other: None)
    monkeypatch.setattr(child, "_forked_not_execd", lambda pid: pid in {3, 4})
    tree = _Member(1, 0, "python3.12", GIB, 128 * MIB, children=(jvm, spawning, apart))
    assert _tree_rss(tree) == 2 * GIB + 128 * MIB + 512 * MIB


def test_a_child_the_kernel_says_shares_the_jvms_memory_is_not_counted_whatever_its_size(
    monkeypatch,
):
    from bench import child

    jvm = _Member(2, 1, "java", 20 * GIB, 2 * GIB)
    # read after the JVM had mapped a 1 GiB arena: 5% apart, beyond the size rule's reach
    spawning = _Member(3, 2, "Executor task l", 21 * GIB, 2 * GIB + 100 * MIB)
    worker = _Member(4, 1, "python3.12", GIB, 64 * MIB)  # a fork with memory of its own
    monkeypatch.setattr(child, "_same_address_space", lambda pid, other: pid == 3)
    monkeypatch.setattr(child, "_forked_not_execd", lambda pid: pid in {3, 4})
    tree = _Member(1, 0, "python3.12", GIB, 128 * MIB, children=(jvm, spawning, worker))
    assert _tree_rss(tree) == 2 * GIB + 128 * MIB + 64 * MIB


def _kcmp_refused() -> str | None:
    """Why this machine has no kcmp(2), asked of the kernel directly (not through the code under
    test, which would skip its own test by answering None), or None where it has it."""
    import ctypes
    import errno
    import platform

    number = {"x86_64": 312, "aarch64": 272}.get(platform.machine())
    if not sys.platform.startswith("linux") or number is None:
        return f"no kcmp(2) on {sys.platform} {platform.machine()}"
    libc = ctypes.CDLL(None, use_errno=True)
    failed = libc.syscall(number, os.getpid(), os.getpid(), 1, 0, 0) < 0
    why = ctypes.get_errno()
    if failed and why in (errno.ENOSYS, errno.EPERM):
        return f"kcmp(2) refused here: {errno.errorcode[why]}"
    return None


def test_the_kernel_tells_threads_of_one_process_from_a_child_process():
    import threading

    from bench.child import _same_address_space

    if refused := _kcmp_refused():
        pytest.skip(refused)
    assert _same_address_space(os.getpid(), os.getpid()) is True
    seen = {}
    ready, done = threading.Event(), threading.Event()

    def thread():
        seen["tid"] = threading.get_native_id()
        ready.set()
        done.wait(5)

    worker = threading.Thread(target=thread)
    worker.start()
    ready.wait(5)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        assert _same_address_space(seen["tid"], os.getpid()) is True
        assert _same_address_space(other.pid, os.getpid()) is False
    finally:
        done.set()
        worker.join()
        other.kill()
        other.wait()


def test_a_process_of_this_tree_reads_as_execd():
    from bench.child import _forked_not_execd

    assert not _forked_not_execd(os.getpid())

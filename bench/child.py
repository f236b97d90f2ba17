"""Run one measured child process: wall seconds, peak memory of its process tree, a memory cap.

Each engine and scenario runs in a child of its own, so its figures include interpreter start,
imports and (for Spark) the JVM, as a user running it would pay them; and so an engine that
runs out of memory under its cap is reported as `out of memory` instead of taking the machine
down.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
# An engine's own way of saying it ran out of memory (it caught MemoryError or the like).
OOM_EXIT = 86
_OOM_SIGNS = ("MemoryError", "bad_alloc", "Out of Memory", "Cannot allocate memory")
GIB = 1 << 30
MIB = 1 << 20


@dataclass
class ChildResult:
    """What one child process did and cost."""

    argv: list[str]
    returncode: int
    seconds: float
    peak_rss: int
    out_of_memory: bool
    timed_out: bool
    stdout: str
    stderr: str
    # Names of the processes seen in the child's tree while it ran (`java` when a JVM started).
    processes: tuple[str, ...] = ()

    @property
    def started_jvm(self) -> bool:
        return "java" in self.processes

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.out_of_memory and not self.timed_out

    @property
    def status(self) -> str:
        if self.ok:
            return "ok"
        if self.out_of_memory:
            return "out of memory"
        if self.timed_out:
            return "timed out"
        return f"failed (exit {self.returncode})"

    def to_dict(self, tail: int = 2000) -> dict:
        data = asdict(self)
        data["status"] = self.status
        data["stdout"] = self.stdout[-tail:]
        data["stderr"] = self.stderr[-tail:]
        return data


def python_module(module: str, *args: str) -> list[str]:
    """The argv running `python -m module args...` with this interpreter."""
    return [sys.executable, "-m", module, *args]


def _limit_address_space(cap: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    return apply


def high_water_mark(pid: int) -> int:
    """The kernel's peak RSS of one process since its exec (`VmHWM`), 0 when unreadable.

    Not `ru_maxrss` from `wait4`: Linux carries the parent's high-water mark over the fork into
    it, so a child of a big benchmark process would report the parent's size.
    """
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# `PF_FORKNOEXEC` in /proc/<pid>/stat's flags: forked and not yet exec'd.
_FORKNOEXEC = 0x40


def _forked_not_execd(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return bool(int(fields[6]) & _FORKNOEXEC)
    except (OSError, IndexError, ValueError):
        return False


def _shares_parent_memory(vms: int, parent_vms: int | None) -> bool:
    return parent_vms is not None and abs(vms - parent_vms) <= parent_vms // 100


# kcmp(2) compares two processes' kernel objects; KCMP_VM: do they share one address space (a
# vforked child until its exec does)? Its system call number, per machine.
_SYS_KCMP = {"x86_64": 312, "aarch64": 272}.get(platform.machine())
_KCMP_VM = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if _SYS_KCMP is not None else None


def _same_address_space(pid: int, other: int) -> bool | None:
    """Whether two processes share one address space, by the kernel's own answer; None when it
    cannot tell (another system, no permission, a process gone)."""
    if _LIBC is None:
        return None
    result = _LIBC.syscall(_SYS_KCMP, pid, other, _KCMP_VM, 0, 0)
    return None if result < 0 else result == 0


def _tree_rss(process: psutil.Process, names: set[str] | None = None) -> int:
    """The summed RSS of `process` and its descendants, each address space counted once; their
    names are added to `names`.

    A JVM starts a command (Hadoop's `chmod` of each file it writes locally, say) by a vfork:
    until the exec, the child runs in its parent's address space and reports the parent's whole
    RSS. The kernel says which children share their parent's address space (kcmp), and those
    are not counted again; asked before the child's size is read, so a child that execs in
    between is merely left out (a `chmod`, a megabyte).

    Where the kernel cannot tell, a child that has not exec'd and has its parent's virtual size
    within 1% is taken for that case. The sizes are read one after the other and a JVM maps
    memory in between (a heap growing, a thread's malloc arena), so that guess can fail: a
    50M-row run once reported 4.4 GiB where the JVM and Python together peaked at 3.0 GiB, and a
    10M-row run 4.6 GiB, twice its JVM.
    """
    total = 0
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0
    seen = []
    for member in members:
        try:
            parent = member.ppid()
            shared = None if member is process else _same_address_space(member.pid, parent)
            seen.append((member.pid, parent, member.memory_info(), shared))
            if names is not None:
                names.add(member.name())
        except psutil.Error:
            continue
    # psutil does not list a parent before its children: every size is read first.
    sizes = {pid: memory.vms for pid, _, memory, _ in seen}
    for pid, parent, memory, shared in seen:
        if shared is None:
            shared = _shares_parent_memory(memory.vms, sizes.get(parent)) and _forked_not_execd(pid)
        if shared:
            continue
        total += memory.rss
    return total


def run_child(
    argv: list[str],
    *,
    memory_cap: int | None = None,
    timeout: float | None = None,
    env: dict[str, str] | None = None,
    cwd: str | Path = REPO,
    interval: float = 0.05,
) -> ChildResult:
    """Run `argv` to completion and measure it.

    Args:
        argv: the command.
        memory_cap: bytes of address space the child may map (`RLIMIT_AS`); None for no cap.
            Not for a JVM, which reserves far more address space than it uses.
        timeout: seconds before the child (and its children) are killed.
        env: extra environment variables on top of this process's.
        cwd: the working folder (the repository, so `python -m bench...` resolves).
        interval: seconds between memory samples of the process tree.

    Returns:
        Wall seconds from start to exit, the peak RSS (the larger of the sampled tree sum and
        the kernel's own high-water mark of the child, `VmHWM`, read as it runs), the exit
        status, the output and the names of the processes seen in its tree.
    """
    child_env = {**os.environ, **(env or {})}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            cwd=str(cwd),
            env=child_env,
            stdout=out,
            stderr=err,
            preexec_fn=_limit_address_space(memory_cap) if memory_cap else None,
            start_new_session=True,
        )
        watched = psutil.Process(proc.pid)
        peak, status, usage, timed_out = 0, 0, None, False
        names: set[str] = set()
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, _tree_rss(watched, names), high_water_mark(proc.pid))
            if timeout is not None and time.perf_counter() - start > timeout:
                timed_out = True
                _kill_tree(proc.pid)
            time.sleep(interval)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    oom = proc.returncode == OOM_EXIT or (
        memory_cap is not None and proc.returncode != 0 and _says_out_of_memory(stderr)
    )
    return ChildResult(
        argv, proc.returncode, seconds, peak, oom, timed_out, stdout, stderr, tuple(sorted(names))
    )


def _says_out_of_memory(stderr: str) -> bool:
    # Only the last lines: a traceback quotes source lines that may name memory errors too.
    last = "\n".join(line for line in stderr.splitlines() if line.strip())
    return any(sign in last.splitlines()[-1] for sign in _OOM_SIGNS) if last else False


def _kill_tree(pid: int) -> None:
    # The child leads its own session: one signal to the group ends it and its JVM.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, 9)

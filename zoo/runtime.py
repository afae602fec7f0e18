"""CPU runtime settings shared by training, prediction, evaluation and the space: threads, waiting, memory.

This module owns how genozoo uses the processor, so every command behaves the same way:

* :func:`early_environment` (run by ``import zoo``, before torch is loaded) makes torch's OpenMP threads sleep
  when they have no work (``OMP_WAIT_POLICY=PASSIVE``) instead of spinning, and backs large buffers with
  transparent huge pages (``THP_MEM_ALLOC_ENABLE=1``). A variable the user has set is never overridden.
* :func:`configure_threads` sets torch's intra-op threads from ``--threads N``, else ``$GENOZOO_THREADS``, else a
  default that does not oversubscribe: the usable CPUs divided among the workers that share them (ranks of one
  ``torchrun`` node, concurrent requests of the space), less the CPUs other processes of our priority keep busy
  now (a snapshot of runnable threads; background work of lower priority does not count).
* :func:`check_device` refuses a device name this machine cannot use, for every command alike;
* :func:`flush_denormals` and :func:`keep_freed_memory` are the per-call tricks of :func:`zoo.engine.fit` and
  :mod:`zoo.predict`: subnormal floats flushed to zero, freed memory kept in the process.

Nothing here imports torch at module level: ``import zoo`` and ``genozoo list`` stay fast.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading

__all__ = ["ENV_THREADS", "MAX_THREADS", "early_environment", "available_cpus", "busy_cpus", "default_threads",
           "resolve_threads", "runnable_neighbours", "configure_threads", "configured_threads", "apply_env_threads",
           "flush_denormals", "keep_freed_memory", "check_device"]

#: Environment variable read by every computing command when ``--threads`` is not given.
ENV_THREADS = "GENOZOO_THREADS"
#: The most threads ``--threads`` and ``$GENOZOO_THREADS`` may ask for (the CLI's option has the same range).
MAX_THREADS = 4096


def early_environment() -> None:
    """Settings that native libraries read once when loaded; set before torch is imported (``import zoo`` runs it).

    ``OMP_WAIT_POLICY=PASSIVE``: an idle OpenMP thread sleeps instead of spinning for ~ms after every parallel
    region. Spinning threads on a busy 2-core machine steal the core the useful thread needs: ``genozoo predict``
    with torch's two default threads ran at 101 sequences/s next to another busy process, 1,535/s with one.
    ``THP_MEM_ALLOC_ENABLE=1``: torch's large CPU buffers (>= 2 MB) are backed by transparent huge pages; the
    k-mer image CNNs write 100+ MB activations per batch, and faulting them in 4 kB pages cost a third of a
    training step (cnn_zeng_2_conv2d on CTCF: 68 -> 98 sequences/s on one core). Set either variable to opt out.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")


# ---------------------------------------------------------------------------------------------- threads
def _read(path: str) -> str:
    """The text of a small kernel file (``/proc``, ``/sys``), closed at once; OSError where it cannot be read."""
    with open(path) as fh:
        return fh.read()


def available_cpus() -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup (container) CPU quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    try:  # cgroup v2: "max 100000" or "200000 100000" (quota, period)
        quota, period = _read("/sys/fs/cgroup/cpu.max").split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, int(int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


def _autogroup(pid: int | str) -> tuple[str, int] | None:
    """``(group, nice)`` of a process's scheduler autogroup, ``None`` where it cannot be read. A process that never
    left init's session (a daemon, a CI runner's job) is in the root autogroup, whose file the kernel leaves empty:
    that group is ``("/", 0)``, and it shares the CPUs with the others as an equal."""
    try:
        text = _read(f"/proc/{pid}/autogroup").split()
    except OSError:
        return None
    if not text:
        return "/", 0
    try:
        return text[0], int(text[2])
    except (IndexError, ValueError):
        return None


def runnable_neighbours() -> list[int]:
    """Process ids (one entry per runnable thread) of the other processes whose threads are runnable now and
    would take CPU from ours, from ``/proc/*/task/*/stat``. Work of lower priority is left out: it yields to us,
    so it must not cost us a thread. Lower means a higher ``nice`` in our scheduler autogroup; where the kernel
    groups processes by session (``sched_autogroup_enabled``, the default of most distributions), ``nice`` only
    ranks threads within a group and the groups share the CPUs by their own ``nice`` (``/proc/PID/autogroup``),
    so a ``nice 19`` job started from another terminal competes with us as an equal and is counted. An empty
    list where ``/proc`` cannot be read."""
    own = os.getpid()
    mine = os.getpriority(os.PRIO_PROCESS, 0) if hasattr(os, "getpriority") else 0
    try:
        grouped = _read("/proc/sys/kernel/sched_autogroup_enabled").strip() == "1"
    except OSError:
        grouped = False
    my_group = _autogroup("self") if grouped else None
    found: list[int] = []
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != own]
    except OSError:
        return found
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        group = _autogroup(pid) if my_group else None
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/stat", "rb") as fh:
                    fields = fh.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue
            # fields[0] is the state (field 3 of proc(5)), fields[16] the nice value (field 19)
            if len(fields) <= 16 or fields[0] != b"R":
                continue
            if group is not None and group[0] != my_group[0]:
                lower = group[1] > my_group[1]
            else:
                lower = int(fields[16]) > mine
            if not lower:
                found.append(pid)
    return found


def busy_cpus() -> int:
    """About how many CPUs other processes of our priority or higher keep busy now: their runnable threads
    (:func:`runnable_neighbours`). A snapshot, not the load average: the load average remembers the last minute
    (a benchmark's own previous run, a finished test), and with it a quiet 2-core machine often got 1 thread."""
    return len(runnable_neighbours())


def default_threads(workers: int = 1) -> int:
    """Intra-op threads that do not oversubscribe: the usable CPUs shared among ``workers`` computing at once in
    this process or node (DDP ranks are read from ``LOCAL_WORLD_SIZE``), and none of the CPUs other processes
    keep busy; at least 1. On a quiet 2-core machine one worker gets 2, next to another busy process 1."""
    cpus = available_cpus()
    workers = max(1, int(workers)) * max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))
    share = max(1, cpus // workers)
    return max(1, min(share, cpus - busy_cpus()))


def resolve_threads(threads: int | str | None = None, workers: int = 1) -> int:
    """The thread count to use: ``threads`` when given, else ``$GENOZOO_THREADS``, else :func:`default_threads`.
    ``0`` or ``"auto"`` means the default. A value that is not a positive whole number is a
    :class:`~zoo.errors.UserError` naming where it came from."""
    from zoo.errors import UserError

    source = "threads (--threads)"
    if threads is None:
        threads, source = os.environ.get(ENV_THREADS) or None, ENV_THREADS
    if threads is None or str(threads).strip().lower() in ("0", "auto"):
        return default_threads(workers)
    try:
        n = int(str(threads).strip())
    except ValueError:
        n = -1
    if not 1 <= n <= MAX_THREADS:  # OpenMP cannot create absurd counts: it fails, or the process segfaults
        raise UserError(f"{source} must be a positive whole number of CPU threads (at most {MAX_THREADS:,}; or 0 / "
                        f"auto for the default), not {threads!r}")
    return n


_configured: int | None = None


def configure_threads(threads: int | str | None = None, workers: int = 1) -> int:
    """Set torch's (and numpy's BLAS) intra-op threads for this process (:func:`resolve_threads`) and return the
    number. Commands call it once before computing; Python users may call it too. ``workers``: how many
    computations will run at once in this process (e.g. the ranks of a torchrun node), each getting a share."""
    global _configured
    import torch

    n = resolve_threads(threads, workers)
    torch.set_num_threads(n)
    with contextlib.suppress(RuntimeError):  # allowed only before the first inter-op task
        torch.set_num_interop_threads(max(1, n))
    with contextlib.suppress(Exception):  # numpy's OpenBLAS spins its own threads; threadpoolctl is optional
        from threadpoolctl import threadpool_limits

        threadpool_limits(n, user_api="blas")
    _configured = n
    return n


def configured_threads() -> int | None:
    """The count :func:`configure_threads` last set, ``None`` before it has run in this process."""
    return _configured


def apply_env_threads() -> None:
    """For library entry points (fit, predict): apply ``$GENOZOO_THREADS`` once when it is set and nothing has
    configured the threads yet, so Python users get the variable's effect too; otherwise leave torch as it is."""
    if _configured is None and os.environ.get(ENV_THREADS):
        configure_threads()


# ----------------------------------------------------------------------------------------------- memory
@contextlib.contextmanager
def flush_denormals():
    """Treat subnormal floats (below 1.2e-38) as zero on the CPU while the block or decorated call runs, then
    restore the default. Backpropagation through long LSTMs fills the gradients with subnormals, which x86 cores
    process very slowly: on one core the backward pass of the DeepRAM LSTMs over 500 steps took 10x longer, and
    they train 5x faster with them flushed (bench/train.py)."""
    import torch

    flushed = torch.set_flush_denormal(True)  # False where the CPU cannot (the mode is then unchanged)
    try:
        yield
    finally:
        if flushed:
            torch.set_flush_denormal(False)


# glibc mallopt parameters (malloc.h) and the defaults they are restored to.
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_DEFAULT_TRIM_THRESHOLD, _DEFAULT_MMAP_MAX = 128 * 1024, 65536
_kept = 0  # nesting depth of keep_freed_memory (across threads: the malloc settings are per process)
_kept_lock = threading.Lock()


def _glibc():
    """The C library when it is glibc (the only one whose malloc this tunes), else ``None``."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # absent from musl
        return libc
    except (OSError, AttributeError):
        return None


@contextlib.contextmanager
def keep_freed_memory():
    """Keep freed memory in the process while the block or decorated call runs, instead of handing it back to the
    kernel. glibc serves every buffer over 32 MB with a fresh ``mmap`` and unmaps it on free, so each step of a
    model with large activations page-faults (and has the kernel zero) them anew: the k-mer image CNNs write
    ~600 MB per tensor at batch 512: ``cnn_zeng_4_conv2d`` trained at 68 sequences/s on one core, 132 with the
    memory kept, and an epoch of ``cnn_zeng_2_conv2d`` on CTCF went from 172 s to 114 s; prediction gains the
    same way. Large buffers then come from the heap, which is not trimmed; on exit the defaults are restored and
    the heap trimmed. The peak resident memory is about what the step needed anyway. Reentrant; a no-op where the
    C library is not glibc."""
    global _kept
    libc = _glibc()
    if libc is None:
        yield
        return
    with _kept_lock:
        if _kept == 0:
            libc.mallopt(_M_MMAP_MAX, 0)
            libc.mallopt(_M_TRIM_THRESHOLD, -1)  # -1: never trim
        _kept += 1
    try:
        yield
    finally:
        with _kept_lock:
            _kept -= 1
            if _kept == 0:
                libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
                libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
                libc.malloc_trim(0)


# ----------------------------------------------------------------------------------------------- devices
def check_device(device: str) -> str:
    """Refuse a device name that is not ``auto``, ``cpu``, ``cuda``, ``cuda:N`` (or ``mps`` where torch has it), or
    one this machine does not have: one sentence (a :class:`zoo.errors.UserError`) before any work. Returns the
    name."""
    import re

    from zoo.errors import UserError

    text = str(device)
    if text in ("auto", "cpu"):
        return text
    import torch

    if text == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise UserError("device 'mps' was asked for but this torch has no MPS (Apple GPU) support here; use "
                            "device 'cpu' or 'auto' (--device cpu)")
        return text
    match = re.fullmatch(r"cuda(?::(\d{1,3}))?", text)
    if match is None:
        raise UserError(f"device {text!r} is not understood; use auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise UserError(f"device {text!r} was asked for but CUDA is not available; use device 'cpu' or 'auto' (--device cpu)")
    if match.group(1) is not None and int(match.group(1)) >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise UserError(f"device {text!r} was asked for but this machine has {count} CUDA device(s) "
                        f"(cuda:0 to cuda:{count - 1}); use one of them, cuda or auto")
    return text

"""zoo.runtime: the thread count (--threads, $GENOZOO_THREADS, a default that does not oversubscribe), the settings
``import zoo`` makes before torch loads, and --threads on every command that computes."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from zoo import runtime
from zoo.errors import UserError

# The commands that compute (torch forward/backward passes); each must take --threads.
COMPUTING = ("predict", "explain", "finetune", "train", "evaluate", "benchmark", "publish", "verify", "space",
             "bakeoff")


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_explicit_threads_beat_the_environment_which_beats_the_default(monkeypatch):
    monkeypatch.setenv(runtime.ENV_THREADS, "3")
    assert runtime.resolve_threads(5) == 5
    assert runtime.resolve_threads() == 3
    monkeypatch.setattr(runtime, "default_threads", lambda workers=1: 7)
    assert runtime.resolve_threads(0) == 7 and runtime.resolve_threads("auto") == 7
    monkeypatch.delenv(runtime.ENV_THREADS)
    assert runtime.resolve_threads() == 7


@pytest.mark.parametrize("bad", ["two", "-1", "1.5"])
def test_a_bad_thread_count_is_one_sentence_naming_its_source(monkeypatch, bad):
    monkeypatch.setenv(runtime.ENV_THREADS, bad)
    with pytest.raises(UserError, match=f"^{runtime.ENV_THREADS} must be a positive whole number"):
        runtime.resolve_threads()
    with pytest.raises(UserError, match=r"^threads \(--threads\) must be"):
        runtime.resolve_threads(-2)


@pytest.mark.parametrize("cpus, busy, workers, ranks, expected", [
    (2, 0, 1, None, 2),   # a quiet machine: every CPU
    (2, 1, 1, None, 1),   # another process busy on one core: leave it that core
    (2, 5, 1, None, 1),   # never below one
    (8, 0, 2, None, 4),   # two concurrent requests share the CPUs
    (8, 0, 1, "4", 2),    # four torchrun ranks on the node: one share each
    (8, 7, 2, "2", 1),
])
def test_the_default_shares_the_free_cpus_among_workers(monkeypatch, cpus, busy, workers, ranks, expected):
    monkeypatch.setattr(runtime, "available_cpus", lambda: cpus)
    monkeypatch.setattr(runtime, "busy_cpus", lambda: busy)
    if ranks is None:
        monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    else:
        monkeypatch.setenv("LOCAL_WORLD_SIZE", ranks)
    assert runtime.default_threads(workers) == expected


def test_busy_cpus_sees_a_process_spinning_on_a_core():
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        import time

        time.sleep(0.3)
        seen = max(runtime.busy_cpus() for _ in range(20))  # a snapshot; the spinner may be off-CPU for one
    finally:
        spinner.kill()
        spinner.wait()
    assert seen >= 1
    assert 1 <= runtime.available_cpus() <= (os.cpu_count() or 1)


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")
def test_a_spinner_of_lower_priority_does_not_count_as_busy():
    """nice 19 background work (in our scheduler autogroup, where nice ranks threads) yields to us, so it must not
    take a thread away; the same spinner at our priority does count."""
    import time

    if os.getpriority(os.PRIO_PROCESS, 0) >= 19:
        pytest.skip("the tests run at the lowest priority already: nothing can be lower")

    def seen(spinner) -> bool:
        time.sleep(0.3)
        return any(spinner.pid in runtime.runnable_neighbours() for _ in range(20))

    code = "import os; os.nice(19)\nwhile True: pass"
    niced = subprocess.Popen([sys.executable, "-c", code])
    same = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    # In a session of its own, the niced spinner gets a scheduler autogroup of its own (where the kernel has them),
    # which shares the CPUs with ours as an equal whatever its nice: then it does count.
    elsewhere = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        assert seen(same)
        assert not seen(niced)
        if Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1":
            assert seen(elsewhere)
    finally:
        for p in (niced, same, elsewhere):
            p.kill()
            p.wait()


@pytest.mark.skipif(not os.path.exists("/proc/self/autogroup"), reason="needs a kernel with scheduler autogroups")
def test_the_root_autogroup_reads_as_a_group_of_its_own():
    """Processes that never left init's session (kthreadd, a CI runner's job) sit in the root autogroup, whose
    /proc file the kernel leaves empty: that is the group "/" at nice 0, not "unknown" (which would fall back to
    ranking by nice and miss a niced job in another session, as CI's run did)."""
    root = [p for p in ("1", "2") if Path(f"/proc/{p}/autogroup").exists() and not Path(f"/proc/{p}/autogroup").read_text().strip()]
    if not root:
        pytest.skip("no readable process in the root autogroup here")
    assert runtime._autogroup(root[0]) == ("/", 0)
    name, nice = runtime._autogroup("self")
    assert isinstance(nice, int) and name.startswith("/")


def test_configure_threads_sets_torch_and_remembers(restore_threads):
    assert runtime.configure_threads(1) == 1 and torch.get_num_threads() == 1
    assert runtime.configured_threads() == 1


def test_import_zoo_makes_idle_openmp_threads_sleep_unless_the_user_chose():
    code = "import os, zoo; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "PASSIVE"
    out = subprocess.run([sys.executable, "-c", code], env={**env, "OMP_WAIT_POLICY": "ACTIVE"},
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ACTIVE"


def _subcommands(parser):
    import argparse

    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


@pytest.mark.parametrize("command", COMPUTING)
def test_every_computing_command_takes_threads(command):
    from zoo.cli import build_parser

    sub = _subcommands(build_parser())[command]
    assert "--threads" in sub.format_help()


def test_the_command_line_applies_threads_and_the_environment(tmp_path):
    """`genozoo verify` (a real model forward pass) under --threads, $GENOZOO_THREADS and a bad value of each."""
    script = ("import sys, torch; from zoo.cli import main; rc = main(sys.argv[1:]); "
              "print('threads', torch.get_num_threads()); sys.exit(rc)")
    name = "deepram_conv1d_onehot.motif_ctcf"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop(runtime.ENV_THREADS, None)

    def run(*args, **extra):
        return subprocess.run([sys.executable, "-c", script, "verify", name, *args], env={**env, **extra},
                              capture_output=True, text=True)

    out = run("--threads", "1")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("threads 1")
    out = run(**{runtime.ENV_THREADS: "1"})
    assert out.returncode == 0 and out.stdout.strip().endswith("threads 1"), out.stderr
    out = run(**{runtime.ENV_THREADS: "lots"})
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip() == (f"genozoo: error: {runtime.ENV_THREADS} must be a positive whole number of CPU "
                                  "threads (at most 4,096; or 0 / auto for the default), not 'lots'")
    out = run("--threads", "x")
    assert out.returncode == 2 and "--threads" in out.stderr and "Traceback" not in out.stderr


def test_list_pretrained_reads_the_records_without_importing_torch():
    """`genozoo list --pretrained` builds nothing: no model module, no torch (4-6 s of its start-up before)."""
    code = ("import sys; from zoo.cli import main; rc = main(['list', '--pretrained']); "
            "print('torch imported:', 'torch' in sys.modules); sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("torch imported: False")
    assert "deepram_conv1d_recurrent_onehot.motif_ctcf" in out.stdout and "deepram" in out.stdout


def test_families_read_from_the_source_are_the_registered_ones():
    import zoo
    from zoo.registry import _declared_families

    registered = {arch: family for family, archs in zoo.list_families().items() for arch in archs}
    assert _declared_families() == registered

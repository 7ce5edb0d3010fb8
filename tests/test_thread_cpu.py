"""``benchmarks.thread_cpu``: a scenario's CPU time split by thread (issue 30: "profile per
phase and per thread"), read from the kernel's per-thread counters."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from benchmarks.thread_cpu import ThreadSampler


def _burn(seconds: float, done: threading.Event, release: threading.Event) -> None:
    end = time.thread_time() + seconds
    a = np.arange(20000.0)
    while time.thread_time() < end:
        a = np.sqrt(a * a + 1.0)
    done.set()
    release.wait()  # alive until read: a thread's counters go with it


@pytest.mark.skipif(not __import__("os").path.isdir("/proc/self/task"), reason="Linux /proc only")
def test_cpu_is_given_to_the_thread_that_spent_it() -> None:
    with ThreadSampler(interval=0.02) as sampler:
        before = dict(sampler.seconds)
        done, release = threading.Event(), threading.Event()
        worker = threading.Thread(target=_burn, args=(0.4, done, release), name="burner")
        worker.start()
        done.wait()
        sampler.sample()
        release.set()
        worker.join()
        idle = threading.Thread(target=time.sleep, args=(0.2,), name="sleeper")
        idle.start()
        idle.join()
    spent = sampler.by_name(before)
    assert 0.35 <= spent["burner"] <= 0.6  # its own CPU clock said 0.4 s (ticks are 10 ms)
    assert spent.get("sleeper", 0.0) < 0.05  # asleep: no CPU
    assert "thread-cpu-sampler" not in spent
    assert spent.get("MainThread", 0.0) < 0.2  # it only waited on the others

"""One forward pass for many concurrent requests: the space's micro-batcher.

Requests arrive on Gradio's event loop (predictions, :meth:`Batcher.submit`) or its worker threads (comparisons,
:meth:`Batcher.run`). Each one parses and encodes its own sequences (cheap) and hands the encoded rows to
:class:`Batcher`; a single compute thread takes everything that is waiting, runs one forward pass per model over
all of it, and hands each request its rows back. Twenty users sending ten sequences each then cost one forward
pass of 200 rows instead of twenty of ten. A large pass is split into ``lanes`` contiguous parts computed at once
by as many threads of one intra-op thread each (the compute thread and ``lanes - 1`` helpers): a model's small
operations (a recurrent layer's steps) scale poorly over intra-op threads, independent halves of the batch
scale well, and Gradio's event loop, which needs a core only part of the time, fills the gaps. A failure is
delivered to the requests of that pass only; a user's bad input never reaches these threads (it is refused
while encoding).
"""
from __future__ import annotations

import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Callable, Hashable

import numpy as np
import torch

__all__ = ["Batcher"]


@dataclass
class _Job:
    key: Hashable
    rows: np.ndarray
    forward: Callable[[np.ndarray], np.ndarray]
    future: Future = field(default_factory=Future)


class Batcher:
    """Run ``forward(rows)`` for concurrent callers, concatenating the rows of callers with the same ``key``.

    ``forward`` maps ``(n, ...)`` encoded rows to ``(n, classes)`` probabilities, row by row (a row's answer does
    not depend on the others, so a pass may be split); rows of one key must share their trailing shape (a model's
    fixed input length). ``max_rows`` bounds one pass, so one pass's memory is bounded. ``threads``: torch's
    intra-op threads; ``lanes``: threads that compute parts of one pass at once (passes of at least
    ``lanes * min_lane_rows`` rows are split).
    """

    def __init__(self, max_rows: int = 4096, threads: int | None = None, lanes: int = 1, min_lane_rows: int = 16):
        self.max_rows = max_rows
        self.threads = threads
        self.lanes = max(1, int(lanes))
        self.min_lane_rows = max(1, int(min_lane_rows))
        self._helpers = (ThreadPoolExecutor(self.lanes - 1, thread_name_prefix="genozoo-lane")
                         if self.lanes > 1 else None)
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="genozoo-batcher", daemon=True)
        self._thread.start()

    def submit(self, key: Hashable, rows: np.ndarray, forward: Callable[[np.ndarray], np.ndarray]) -> Future:
        """A future of the probabilities of ``rows``, computed in a pass shared with whatever else is waiting
        (an asyncio caller awaits it with :func:`asyncio.wrap_future`, holding no thread while it waits)."""
        job = _Job(key, rows, forward)
        self._jobs.put(job)
        return job.future

    def run(self, key: Hashable, rows: np.ndarray, forward: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """The probabilities of ``rows`` (:meth:`submit`, waiting on this thread)."""
        return self.submit(key, rows, forward).result()

    def close(self) -> None:
        self._jobs.put(None)
        if self._helpers is not None:
            self._helpers.shutdown(wait=False)

    def _take(self) -> list[_Job] | None:
        first = self._jobs.get()
        if first is None:
            return None
        jobs = [first]
        while True:  # everything that arrived while the previous pass ran
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return jobs
            if job is None:
                self._jobs.put(None)
                return jobs
            jobs.append(job)

    def _loop(self) -> None:
        if self.threads:
            torch.set_num_threads(self.threads)
        while (jobs := self._take()) is not None:
            groups: dict[tuple, list[_Job]] = {}
            for job in jobs:
                groups.setdefault((job.key, job.rows.shape[1:]), []).append(job)
            for group in groups.values():
                while group:
                    chunk, n = [], 0
                    while group and (not chunk or n + len(group[0].rows) <= self.max_rows):
                        n += len(group[0].rows)
                        chunk.append(group.pop(0))
                    self._pass(chunk)

    def _forward(self, forward: Callable[[np.ndarray], np.ndarray], rows: np.ndarray) -> np.ndarray:
        """``forward(rows)``, in ``lanes`` parts at once when there are enough rows."""
        lanes = min(self.lanes, len(rows) // self.min_lane_rows)
        if lanes <= 1:
            return forward(rows)
        parts = np.array_split(rows, lanes)
        helpers = [self._helpers.submit(forward, part) for part in parts[1:]]
        try:
            first = forward(parts[0])
        finally:  # the helpers' parts are done (or failed) before this pass reports, whatever happened here
            wait(helpers)
        return np.concatenate([first, *(f.result() for f in helpers)])

    def _pass(self, chunk: list[_Job]) -> None:
        try:
            rows = chunk[0].rows if len(chunk) == 1 else np.concatenate([j.rows for j in chunk])
            probs = self._forward(chunk[0].forward, rows)
        except BaseException as e:  # delivered to the waiting requests, which report it; the thread lives on
            for job in chunk:
                job.future.set_exception(e)
            return
        start = 0
        for job in chunk:
            job.future.set_result(probs[start:start + len(job.rows)])
            start += len(job.rows)

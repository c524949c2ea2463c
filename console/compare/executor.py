"""Running a window's partitions: several at a time, in threads or worker processes.

The per-record work is Python, so threads share one core (the GIL); windows of
:data:`PROCESS_FROM` records or more run in ``spawn``-ed worker processes instead.
Either way each worker keeps one consumer per side for all its partitions, reports
progress through a shared counter, and stops after its batch on cancel or on another
worker's failure.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import queue
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from console.compare.align import NEED_SOURCE, NEED_TARGET, PartitionAligner
from console.compare.model import CompareRequest
from console.compare.reader import PartitionReader, Side, TopicVanished
from console.compare.tally import PartitionTally
from console.errors import Cancelled, Progress

# Windows of at least this many source records are compared in worker processes: the
# per-record work is Python, and threads share one core between them (the GIL).
PROCESS_FROM = 300_000


class _Counter:
    """Source records compared so far, across worker threads."""

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.value += n


def run_jobs(jobs, source, target, settings, cancel, progress, request: CompareRequest):
    """Align every partition, several at a time; returns tallies per topic and partition."""
    total = sum(j.estimate for j in jobs)
    count = min(len(jobs), request.workers or max(2, os.cpu_count() or 2))
    executor = request.executor
    if executor == "auto":
        executor = "process" if total >= PROCESS_FROM and count > 1 else "thread"
    if not jobs:
        return {}, {}, 0
    if executor == "process":
        try:
            return _run_in_processes(jobs, source, target, settings, cancel, progress, count, total)
        except BrokenProcessPool:
            # A worker could not start (e.g. a calling script without the usual
            # ``if __name__ == "__main__":`` guard, which spawn needs): threads still work.
            progress("worker processes could not start; comparing in threads instead")
    with _relaxed_gc():
        return _run_in_threads(jobs, source, target, settings, cancel, progress, count, total)


def _report(progress: Progress, done: int, total: int, began: float) -> None:
    rate = done / max(time.monotonic() - began, 1e-6)
    pct = f" ({min(100, 100 * done // total)}%)" if total else ""
    progress(f"compared {done:,} of ~{total:,} source records{pct}, {rate:,.0f} rec/s")


def _run_in_threads(jobs, source, target, settings, cancel, progress, count, total):
    todo: queue.Queue = queue.Queue()
    for job in sorted(jobs, key=lambda j: -j.estimate):  # big ones first: even finish
        todo.put(job)
    tallies: dict[str, dict[int, PartitionTally]] = {}
    vanished: dict[str, str] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()
    counter = _Counter()
    # Set on cancel or on any worker's failure, so the others stop after their batch.
    stop = threading.Event()

    def worker() -> None:
        consumers = {}
        try:
            while not stop.is_set():
                try:
                    job = todo.get_nowait()
                except queue.Empty:
                    return
                if not consumers:
                    consumers = {"source": source.consumer(), "target": target.consumer()}
                try:
                    tally = align_partition(job, source, target, consumers, settings, stop, counter)
                except TopicVanished as exc:
                    with lock:
                        vanished[job.topic] = str(exc)
                    continue
                with lock:
                    tallies.setdefault(job.topic, {})[job.partition] = tally
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            with lock:
                errors.append(exc)
            stop.set()
        finally:
            for consumer in consumers.values():
                consumer.close()

    threads = [
        threading.Thread(target=worker, name=f"compare-{i}", daemon=True) for i in range(count)
    ]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        for thread in threads:
            thread.join(timeout=0.5)
        if cancel.is_set():
            stop.set()
        _report(progress, counter.value, total, began)
    return _outcome(tallies, vanished, errors, cancel, counter.value)


def _outcome(tallies, vanished, errors, cancel, done):
    if cancel.is_set():
        raise Cancelled("comparison cancelled")
    real = [e for e in errors if not isinstance(e, Cancelled)]
    if real:
        raise real[0]
    if errors:
        raise Cancelled("comparison cancelled")
    return tallies, vanished, done


_GC_LOCK = threading.Lock()
_GC_USERS = 0
_GC_SAVED: tuple[int, int, int] | None = None


@contextlib.contextmanager
def _relaxed_gc():
    """Collect garbage less often while partitions stream through this process.

    Every record read allocates a few small tracked objects, so the default thresholds
    run a collection every few hundred records over buffers of thousands: measured to
    cost a quarter of the throughput. The hot path makes no reference cycles. The old
    thresholds come back when the last comparison in the process ends.
    """
    global _GC_USERS, _GC_SAVED
    with _GC_LOCK:
        if _GC_USERS == 0:
            _GC_SAVED = gc.get_threshold()
            gc.set_threshold(100_000, 50, 1000)
        _GC_USERS += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_USERS -= 1
            if _GC_USERS == 0 and _GC_SAVED is not None:
                gc.set_threshold(*_GC_SAVED)


# -- worker processes ------------------------------------------------------------------------

_PROC_STOP = None
_PROC_COUNTER = None
_PROC_CONSUMERS: dict = {}


def _proc_init(stop, counter) -> None:
    """Worker process start: no cyclic GC at all (the process only streams), shared stop
    flag and progress counter."""
    global _PROC_STOP, _PROC_COUNTER
    gc.disable()
    _PROC_STOP, _PROC_COUNTER = stop, counter


class _SharedCounter:
    def __init__(self, value) -> None:
        self.value = value

    def add(self, n: int) -> None:
        with self.value.get_lock():
            self.value.value += n


def _proc_job(job, sides, settings):
    """One partition pair, in a worker process; returns its tally (pickled back).

    The worker keeps one consumer per side for all its jobs: a fresh librdkafka client
    per partition costs a connection and, measured, grows the process by megabytes each
    time (its allocations are not given back).
    """
    source = Side(*sides["source"])
    target = Side(*sides["target"])
    if not _PROC_CONSUMERS:
        _PROC_CONSUMERS.update(source=source.consumer(), target=target.consumer())
    try:
        return align_partition(
            job,
            source,
            target,
            _PROC_CONSUMERS,
            settings,
            _PROC_STOP,
            _SharedCounter(_PROC_COUNTER),
        )
    except BaseException:
        # A consumer left mid-stream is in an unknown state: the next job gets new ones.
        for consumer in _PROC_CONSUMERS.values():
            consumer.close()
        _PROC_CONSUMERS.clear()
        raise
    finally:
        gc.collect()


def _run_in_processes(jobs, source, target, settings, cancel, progress, count, total):
    # spawn, not fork: the parent runs librdkafka and maybe Textual threads.
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    counter = ctx.Value("q", 0)
    sides = {
        "source": (source.name, source.spec, source.password),
        "target": (target.name, target.spec, target.password),
    }
    tallies: dict[str, dict[int, PartitionTally]] = {}
    vanished: dict[str, str] = {}
    errors: list[BaseException] = []
    began = time.monotonic()
    with ProcessPoolExecutor(
        max_workers=count, mp_context=ctx, initializer=_proc_init, initargs=(stop, counter)
    ) as pool:
        pending = {
            pool.submit(_proc_job, job, sides, settings): job
            for job in sorted(jobs, key=lambda j: -j.estimate)
        }
        while pending:
            done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in done:
                job = pending.pop(fut)
                try:
                    tallies.setdefault(job.topic, {})[job.partition] = fut.result()
                except TopicVanished as exc:
                    vanished[job.topic] = str(exc)
                except BrokenProcessPool:
                    raise
                except BaseException as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)
                    stop.set()
            if cancel.is_set():
                stop.set()
            if stop.is_set():
                for fut in pending:
                    fut.cancel()
            _report(progress, counter.value, total, began)
    return _outcome(tallies, vanished, errors, cancel, counter.value)


def align_partition(job, source, target, consumers, settings, cancel, counter) -> PartitionTally:
    """Stream one partition pair through the aligner."""
    aligner = PartitionAligner(job.topic, job.partition, settings, job.bounds)
    src = PartitionReader(
        consumers["source"], "source", job.topic, job.partition, *job.source, source.timeout
    )
    tgt = PartitionReader(
        consumers["target"], "target", job.topic, job.partition, *job.target, target.timeout
    )
    need = aligner.run()
    while need:
        if need & NEED_SOURCE:
            batch, ended = src.next_batch(cancel)
            aligner.feed_source(batch, ended)
            counter.add(len(batch))
        if need & NEED_TARGET:
            batch, ended = tgt.next_batch(cancel)
            aligner.feed_target(batch, ended)
        need = aligner.run()
    tally = aligner.finish()
    return tally

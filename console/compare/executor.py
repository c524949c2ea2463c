"""Running a window's partitions: several at a time, in threads or worker processes.

The per-record work is Python, so threads share one core (the GIL); windows of
:data:`PROCESS_FROM` records or more run in ``spawn``-ed worker processes instead.
Either way each worker keeps one consumer per side for all its partitions and reads
many small ones at once through it (:func:`align_jobs`), reports progress through a
shared counter, and stops after its batch on cancel or on another worker's failure.
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
from console.compare.reader import WAIT, Side, SideStream, TopicVanished
from console.compare.tally import PartitionTally
from console.compare.windows import Job
from console.errors import Cancelled, Progress

# Windows of at least this many source records are compared in worker processes: the
# per-record work is Python, and threads share one core between them (the GIL).
PROCESS_FROM = 300_000

# Partition pairs one worker reads at once: up to OPEN_MAX, while their records (the
# bigger side of each) add up to less than OPEN_RECORDS, so records fetched ahead stay
# bounded and a big partition is read alone. Read one after another, partitions cost
# ~1 s each whatever their size (measured: 200 topics x 4 partitions took 410 s). With
# 800 small partitions, 256 at once (50,000 records) took 1.14 s, 1,024 (100,000
# records) 0.75 s at the same peak memory; 64 at once took 3.1 s.
OPEN_MAX = 1024
OPEN_RECORDS = 100_000


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

    def next_job() -> Job | None:
        if stop.is_set():
            return None
        try:
            return todo.get_nowait()
        except queue.Empty:
            return None

    def done(job: Job, tally: PartitionTally | None, gone: str) -> None:
        with lock:
            if tally is None:
                vanished[job.topic] = gone
            else:
                tallies.setdefault(job.topic, {})[job.partition] = tally

    def worker() -> None:
        consumers = {}
        try:
            consumers = {"source": source.consumer(), "target": target.consumer()}
            align_jobs(next_job, source, target, consumers, settings, stop, counter, done)
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


def _proc_jobs(jobs, sides, settings):
    """Some partition pairs, in a worker process; returns their tallies (pickled back)
    as ``(topic, partition, tally or None, why it vanished)``.

    The worker keeps one consumer per side for all its tasks: a fresh librdkafka client
    costs a connection and, measured, grows the process by megabytes each time (its
    allocations are not given back).
    """
    source = Side(*sides["source"])
    target = Side(*sides["target"])
    if not _PROC_CONSUMERS:
        _PROC_CONSUMERS.update(source=source.consumer(), target=target.consumer())
    out: list = []
    todo = iter(jobs)
    try:
        align_jobs(
            lambda: next(todo, None),
            source,
            target,
            _PROC_CONSUMERS,
            settings,
            _PROC_STOP,
            _SharedCounter(_PROC_COUNTER),
            lambda job, tally, gone: out.append((job.topic, job.partition, tally, gone)),
        )
    except BaseException:
        # A consumer left mid-stream is in an unknown state: the next task gets new ones.
        for consumer in _PROC_CONSUMERS.values():
            consumer.close()
        _PROC_CONSUMERS.clear()
        raise
    finally:
        gc.collect()
    return out


def _tasks(jobs: list[Job]) -> list[list[Job]]:
    """Jobs in tasks for worker processes, big ones first: a big partition alone, small
    ones together up to what one worker reads at once."""
    tasks: list[list[Job]] = []
    task: list[Job] = []
    load = 0
    for job in sorted(jobs, key=lambda j: -j.estimate):
        task.append(job)
        load += job.load
        if len(task) >= OPEN_MAX or load >= OPEN_RECORDS:
            tasks.append(task)
            task, load = [], 0
    if task:
        tasks.append(task)
    return tasks


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
        pending = {pool.submit(_proc_jobs, task, sides, settings) for task in _tasks(jobs)}
        while pending:
            done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in done:
                try:
                    results = fut.result()
                except BrokenProcessPool:
                    raise
                except BaseException as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)
                    stop.set()
                    continue
                for topic, partition, tally, gone in results:
                    if tally is None:
                        vanished[topic] = gone
                    else:
                        tallies.setdefault(topic, {})[partition] = tally
            if cancel.is_set():
                stop.set()
            if stop.is_set():
                for fut in pending:
                    fut.cancel()
            _report(progress, counter.value, total, began)
    return _outcome(tallies, vanished, errors, cancel, counter.value)


def align_jobs(next_job, source, target, consumers, settings, cancel, counter, done) -> None:
    """Stream partition pairs through their aligners, many at once, one consumer per side.

    ``next_job()`` gives the next :class:`Job` (None when there is none left);
    ``done(job, tally, vanished)`` takes each result as soon as it is known (``tally``
    None and the reason in ``vanished`` when its topic disappeared). Up to
    :data:`OPEN_MAX` pairs are open together while their source records add up to less
    than :data:`OPEN_RECORDS`, so small partitions share every wait (fetches, the
    broker's long poll at each end) and a big one is read alone, with the memory it
    always had. (Each pair counts the records of its bigger side.)
    """
    src = SideStream(consumers["source"], "source", source.timeout)
    tgt = SideStream(consumers["target"], "target", target.timeout)
    active: dict[tuple[str, int], tuple[Job, PartitionAligner]] = {}
    # Pairs waiting for records of one side, in the order they began to wait.
    want_src: dict[tuple[str, int], None] = {}
    want_tgt: dict[tuple[str, int], None] = {}
    load = 0

    def advance(key) -> None:
        _job, aligner = active[key]
        try:
            while True:
                need = aligner.run()
                if not need:
                    finish(key, aligner.finish(), "")
                    return
                fed = False
                if need & NEED_SOURCE and src.ready(key):
                    batch, ended = src.take(key)
                    aligner.feed_source(batch, ended)
                    counter.add(len(batch))
                    fed = True
                if need & NEED_TARGET and tgt.ready(key):
                    batch, ended = tgt.take(key)
                    aligner.feed_target(batch, ended)
                    fed = True
                if not fed:
                    for flag, want in ((NEED_SOURCE, want_src), (NEED_TARGET, want_tgt)):
                        if need & flag:
                            want[key] = None
                        else:
                            want.pop(key, None)
                    return
        except TopicVanished as exc:
            finish(key, None, str(exc))

    def finish(key, tally, gone: str) -> None:
        nonlocal load
        job, _aligner = active.pop(key)
        load -= job.load
        want_src.pop(key, None)
        want_tgt.pop(key, None)
        src.close(key)
        tgt.close(key)
        done(job, tally, gone)

    more = True
    turn = False
    while True:
        while more and (not active or (len(active) < OPEN_MAX and load < OPEN_RECORDS)):
            job = next_job()
            if job is None:
                more = False
                break
            key = (job.topic, job.partition)
            src.open(job.topic, job.partition, *job.source)
            tgt.open(job.topic, job.partition, *job.target)
            active[key] = (job, PartitionAligner(job.topic, job.partition, settings, job.bounds))
            load += job.load
            advance(key)
        if not active:
            break
        src.sync()
        tgt.sync()
        arrived = False
        for side, want in ((src, want_src), (tgt, want_tgt)):
            if want:
                for key in side.poll(0, cancel, want):
                    if key in want:
                        arrived = True
                        advance(key)
        if not arrived and (want_src or want_tgt):
            # Nothing there yet: wait for the first record on one side, taking turns.
            turn = not turn
            side, want = (src, want_src) if want_src and (turn or not want_tgt) else (tgt, want_tgt)
            for key in side.poll(WAIT, cancel, want):
                if key in want:
                    advance(key)
    src.release()
    tgt.release()

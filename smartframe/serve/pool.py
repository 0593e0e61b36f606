"""A bounded pool of worker processes, driven from the server's event loop.

Each worker runs one request at a time (see :mod:`smartframe.serve.worker`). The pool:

* starts ``size`` workers and waits until each has loaded its models;
* hands a request to an idle worker, waiting at most until the request's deadline (then
  :class:`Overloaded`);
* kills a worker still busy at the deadline and replaces it (:class:`WorkerTimedOut`);
* notices a worker that dies (a crash in a C decoder, the OOM killer, ``kill -9``): only the
  request it was running fails (:class:`WorkerDied`), and a new worker takes its place.

``concurrent.futures.ProcessPoolExecutor`` is not used because one dead worker breaks it
for good (``BrokenProcessPool``); here each worker is its own process with its own pipe, so a
death is one worker's business. The blocking pipe calls run on a small thread pool, never on
the event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
import pickle
import time
from dataclasses import dataclass
from multiprocessing.connection import wait as wait_for_any

from ..processes import START_LIMIT, exit_text, process_context, threads_per_worker
from .worker import worker_main

__all__ = ["WorkerPool", "Overloaded", "WorkerDied", "WorkerTimedOut", "WorkerStartError"]

log = logging.getLogger("smartframe.serve")



class Overloaded(Exception):
    """No worker became free before the request's deadline."""


class WorkerDied(Exception):
    """The worker running the request died; it has been replaced."""


class WorkerTimedOut(Exception):
    """The request's deadline passed while its worker was busy; the worker was killed and replaced."""


class WorkerStartError(Exception):
    """A worker process could not start (its models did not load, or it died starting)."""


@dataclass
class _Worker:
    process: multiprocessing.Process
    conn: object
    pid: int | None = None
    state: str = "starting"  # starting, idle, busy, gone
    replaced: bool = False  # a replacement has been started (never twice for one worker)

    @classmethod
    def start(cls, context, threads: int) -> _Worker:
        conn, child_end = context.Pipe(duplex=True)
        process = context.Process(target=worker_main, args=(child_end, threads), daemon=True,
                                  name="smartframe-serve-worker")
        process.start()
        child_end.close()
        return cls(process=process, conn=conn, pid=process.pid)

    def wait_ready(self) -> None:
        """Block until the worker has loaded its models; WorkerStartError otherwise."""
        ready = wait_for_any([self.conn, self.process.sentinel], timeout=START_LIMIT)
        if self.conn in ready:
            try:
                message = pickle.loads(self.conn.recv_bytes())
            except (EOFError, OSError):
                message = None
            if message and message[0] == "ready":
                return
            if message and message[0] == "failed":
                self.kill()
                raise WorkerStartError(message[1])
        if not ready:
            self.kill()
            raise WorkerStartError(f"a worker did not start within {START_LIMIT:g} s")
        self.process.join(timeout=1)
        raise WorkerStartError(f"a worker died while starting ({exit_text(self.process.exitcode)})")

    def run(self, head: bytes, body: bytes | bytearray, timeout: float) -> tuple:
        """Send one request and wait for its reply, at most ``timeout`` seconds."""
        try:
            self.conn.send_bytes(head)
            self.conn.send_bytes(body)
        except (BrokenPipeError, ConnectionResetError, OSError):
            return self._died()
        ready = wait_for_any([self.conn, self.process.sentinel], timeout=max(0.0, timeout))
        if self.conn in ready:
            try:
                return pickle.loads(self.conn.recv_bytes())
            except (EOFError, OSError):
                return self._died()
        if ready:
            return self._died()
        self.kill()
        raise WorkerTimedOut()

    def _died(self):
        self.process.join(timeout=1)
        self.state = "gone"
        raise WorkerDied(exit_text(self.process.exitcode))

    def alive(self) -> bool:
        return self.state != "gone" and self.process.is_alive()

    def kill(self) -> None:
        self.state = "gone"
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the worker to exit; kill it if it does not."""
        try:
            self.conn.send_bytes(b"")
        except (BrokenPipeError, OSError):
            pass  # already gone: nothing to ask
        self.process.join(timeout=timeout)
        self.kill()


class WorkerPool:
    """``size`` worker processes, each with ``threads`` OpenCV threads.

    Use from one event loop: ``await start()``, then ``await run(...)`` per request, and
    ``await close()`` at shutdown. ``on_restart(reason)`` is called when a worker is replaced.
    """

    def __init__(self, size: int, *, threads: int | None = None, on_restart=None) -> None:
        self.size = size
        self.threads = threads or threads_per_worker(size)
        self._context = process_context("smartframe.serve.worker")
        self._workers: list[_Worker] = []
        self._idle: asyncio.LifoQueue[_Worker] | None = None
        self._pipes = concurrent.futures.ThreadPoolExecutor(max_workers=2 * size + 2,
                                                            thread_name_prefix="smartframe-pipe")
        self._on_restart = on_restart or (lambda reason: None)
        self._replacing: set[asyncio.Task] = set()
        self._closed = False
        self.waiting = 0  # requests waiting for a worker

    # --- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every worker and wait until all have loaded their models."""
        self._idle = asyncio.LifoQueue()  # the most recently used worker first: its memory is warm
        loop = asyncio.get_running_loop()
        workers = [await loop.run_in_executor(self._pipes, _Worker.start, self._context, self.threads)
                   for _ in range(self.size)]
        self._workers = list(workers)
        try:
            await asyncio.gather(*(loop.run_in_executor(self._pipes, w.wait_ready) for w in workers))
        except WorkerStartError:
            for worker in workers:
                worker.kill()
            raise
        for worker in workers:
            worker.state = "idle"
            self._idle.put_nowait(worker)

    async def close(self) -> None:
        """Stop every worker (each finishes nothing: call this once no request is in flight)."""
        self._closed = True
        for task in list(self._replacing):
            task.cancel()
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self._pipes, w.stop) for w in self._workers
                               if w.state != "gone"), return_exceptions=True)
        for worker in self._workers:
            worker.kill()
        self._pipes.shutdown(wait=False, cancel_futures=True)

    # --- state -------------------------------------------------------------------------------

    def states(self) -> list[dict]:
        return [{"pid": w.pid, "state": w.state} for w in self._workers]

    def count(self, state: str) -> int:
        return sum(w.state == state for w in self._workers)

    # --- requests ------------------------------------------------------------------------------

    async def run(self, head: bytes, body: bytes | bytearray, deadline: float) -> tuple:
        """Run one request (``head`` pickled, ``body`` raw) on a worker, by ``deadline``
        (``time.monotonic()``). Returns the worker's reply; raises Overloaded, WorkerDied or
        WorkerTimedOut."""
        worker = await self._acquire(deadline)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pipes, worker.run, head, body, deadline - time.monotonic())
        try:
            reply = await asyncio.shield(future)
        except asyncio.CancelledError:
            # The client went away: the worker finishes (or dies) on its own; release it then.
            future.add_done_callback(lambda _: self._release(worker))
            raise
        except WorkerDied as died:
            log.warning("worker %s died while running a request (%s); replacing it", worker.pid, died)
            self._release(worker, reason="died")
            raise
        except WorkerTimedOut:
            log.warning("worker %s was still busy at the request's deadline; killed, replacing it", worker.pid)
            self._release(worker, reason="timeout")
            raise
        self._release(worker)
        return reply

    async def _acquire(self, deadline: float) -> _Worker:
        assert self._idle is not None, "start() the pool first"
        self.waiting += 1
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Overloaded()
                try:
                    worker = await asyncio.wait_for(self._idle.get(), remaining)
                except asyncio.TimeoutError:
                    raise Overloaded() from None
                if worker.alive():
                    worker.state = "busy"
                    return worker
                self._replace(worker, "died")  # died while idle
        finally:
            self.waiting -= 1

    def _release(self, worker: _Worker, reason: str | None = None) -> None:
        if self._closed:
            return
        if reason is None and worker.alive():
            worker.state = "idle"
            self._idle.put_nowait(worker)
            return
        self._replace(worker, reason or "died")

    def _replace(self, worker: _Worker, reason: str) -> None:
        if self._closed or worker.replaced:
            return
        worker.replaced = True
        if worker.state != "gone":
            worker.kill()
        self._on_restart(reason)
        task = asyncio.get_running_loop().create_task(self._start_replacement(worker))
        self._replacing.add(task)
        task.add_done_callback(self._replacing.discard)

    async def _start_replacement(self, old: _Worker) -> None:
        """Start a worker in ``old``'s place; retry with a growing pause if it cannot start."""
        loop = asyncio.get_running_loop()
        pause = 1.0
        while not self._closed:
            new = await loop.run_in_executor(self._pipes, _Worker.start, self._context, self.threads)
            self._workers[self._workers.index(old)] = new
            old = new
            try:
                await loop.run_in_executor(self._pipes, new.wait_ready)
            except WorkerStartError as error:
                log.error("a replacement worker failed to start: %s; retrying in %.0f s", error, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 30.0)
                continue
            if self._closed:
                new.stop()
                return
            new.state = "idle"
            self._idle.put_nowait(new)
            log.info("worker %s started in place of the one replaced", new.pid)
            return

    async def watch(self, interval: float = 1.0) -> None:
        """Replace idle workers that died while waiting for work (run as a background task)."""
        while not self._closed:
            await asyncio.sleep(interval)
            for worker in list(self._workers):
                if worker.state == "idle" and not worker.process.is_alive():
                    log.warning("idle worker %s died (%s); replacing it", worker.pid,
                                exit_text(worker.process.exitcode))
                    worker.state = "gone"
                    self._replace(worker, "died")

"""LocalFunctionHost: indexes the app, serves HTTP, pumps queues and runs timers on one event loop."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import uvicorn

from local.funchost.queue_store import LocalQueueStore

from .disabled import is_disabled
from .http_app import build_http_app
from .indexing import EventGridFunction, IndexedFunction, QueueFunction, TimerFunction, index_app
from .invoke import HOST_API_REASON, call_function, direct_service_bus_message, event_grid_event, with_timeout
from .keys import FUNCTION_KEY_ENV, MASTER_KEY_ENV, load_host_keys
from .queue_pump import QueuePump
from .settings import HostOptions, load_local_settings
from .timers import TimerRunner

__all__ = ["LOCK_SECONDS_ENV", "MAX_DELIVERY_COUNT_ENV", "QUEUE_PATH_ENV", "LocalFunctionHost"]

log = logging.getLogger("funchost")
QUEUE_PATH_ENV = "CONNECTOR_LOCAL_QUEUE_PATH"
LOCK_SECONDS_ENV = "CONNECTOR_LOCAL_QUEUE_LOCK_SECONDS"
MAX_DELIVERY_COUNT_ENV = "CONNECTOR_LOCAL_QUEUE_MAX_DELIVERY_COUNT"


def run_in_new_loop(coro: Coroutine[Any, Any, None]) -> None:
    # Not asyncio.run: it waits for every worker thread on the way out, and a sync function
    # stuck past the shutdown grace period would then hold the process forever.
    loop = asyncio.new_event_loop()
    # The queue file's thread hands each answer back through the GIL: with the default 5 ms switch interval a
    # busy event loop kept every receive and completion waiting that long (measured in the wide burst).
    sys.setswitchinterval(0.0005)
    try:
        loop.run_until_complete(coro)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


class _Server(uvicorn.Server):
    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The host owns SIGINT/SIGTERM: it must settle in-flight messages before the process
        # ends, which uvicorn's handler (re-raising the signal after serving) would not allow.
        yield


class LocalFunctionHost:
    """Hosts ``<app_module>.app`` like ``func start``; in-process (``start``/``stop``) or via ``run``."""

    def __init__(
        self,
        app_module: str = "function_app",
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        settings_file: str | Path | None = "local.settings.json",
        host_json: str | Path | None = "host.json",
        state_dir: str | Path = ".local",
        queue_path: str | Path | None = None,
        shutdown_grace_seconds: float = 10,
    ) -> None:
        self.app_module = app_module
        self.host = host
        self.port = port
        self._settings_file = settings_file
        self._host_json = host_json
        self._state_dir = Path(state_dir)
        self._queue_path = queue_path
        self._grace = shutdown_grace_seconds
        self.functions: list[IndexedFunction] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._store: LocalQueueStore | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def prepare(self) -> None:
        """Settings, keys, indexing and the listening socket; raises IndexingError on a bad app."""
        if self._settings_file is not None:
            load_local_settings(self._settings_file)
        if self._queue_path is not None:
            os.environ[QUEUE_PATH_ENV] = str(Path(self._queue_path).resolve())
        # The app's composition root reads the same variable, so both sides open one file.
        queue_file = Path(os.environ.get(QUEUE_PATH_ENV) or self._state_dir / "queue.sqlite3").resolve()
        os.environ[QUEUE_PATH_ENV] = str(queue_file)
        self.keys = load_host_keys(self._state_dir)
        self.master_key, self.function_key = self.keys.master_key, self.keys.function_key
        from_env = os.environ.get(MASTER_KEY_ENV) and os.environ.get(FUNCTION_KEY_ENV)
        log.info("Host keys: %s", "from the environment" if from_env else self._state_dir / "host-keys.json")
        self.options = HostOptions.from_host_json(self._host_json) if self._host_json else HostOptions()
        self._invoke = with_timeout(call_function, self.options.function_timeout_seconds)
        # Like the worker, which puts the app's root on sys.path before importing it.
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        self.functions = index_app(self.app_module)
        self._queue_file = queue_file
        # IPPROTO_TCP named, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP (accepted ones
        # inherit it). Without it, a response written as headers then body waits for the client's delayed ACK,
        # 40 ms a request on Linux; Kestrel, the real host's server, sets NoDelay too.
        self._socket = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM,
                                     socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((self.host, self.port))
        self.port = self._socket.getsockname()[1]

    def store(self) -> LocalQueueStore:
        if self._store is None:
            self._store = LocalQueueStore(
                self._queue_file,
                lock_seconds=float(os.environ.get(LOCK_SECONDS_ENV, 60)),
                max_delivery_count=int(os.environ.get(MAX_DELIVERY_COUNT_ENV, 10)),
            )
        return self._store

    # -- running -------------------------------------------------------------------------------

    async def serve(self, *, handle_signals: bool = False, announce: bool = False) -> None:
        """Serve until ``request_stop`` (or SIGINT/SIGTERM when ``handle_signals``)."""
        loop = asyncio.get_running_loop()
        self._loop, self._stop_requested = loop, asyncio.Event()
        loop.set_default_executor(ThreadPoolExecutor(32, thread_name_prefix="funchost-fn"))
        # One thread: every call on the queue file takes the one connection's lock, so more threads only queue
        # behind each other (and behind the GIL) instead of running at once.
        store_pool = ThreadPoolExecutor(1, thread_name_prefix="funchost-queue")
        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self._on_signal, sig)
        app = build_http_app(
            functions=self.functions,
            keys=self.keys,
            route_prefix=self.options.route_prefix,
            store=self.store,
            run_now=self.run_now,
            base_url=lambda: self.base_url,
        )
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
        server = _Server(config)
        timers = [f for f in self.functions if isinstance(f, TimerFunction)]
        self._timers = {f.name: TimerRunner(f, self._invoke) for f in timers}
        self._pumps = [self._pump(f, store_pool) for f in self.functions if isinstance(f, QueueFunction)]
        serving = asyncio.create_task(server.serve(sockets=[self._socket]))
        while not server.started and not serving.done():
            await asyncio.sleep(0.01)
        if serving.done():
            await serving  # re-raises why uvicorn could not start
        for part in [*self._pumps, *self._timers.values()]:
            if is_disabled(part.fn.name):
                log.info("Function '%s' is disabled (AzureWebJobs.%s.Disabled): its trigger is not listened to",
                         part.fn.name, part.fn.name)
                continue
            part.start()
        if announce:  # the line HostProcess waits for; logging it as well would show it twice
            print(f"funchost ready {self.base_url} ({len(self.functions)} functions)", flush=True)
        else:
            log.info("funchost ready %s (%d functions)", self.base_url, len(self.functions))
        self._ready.set()
        await self._stop_requested.wait()
        log.info("Stopping: settling in-flight work (up to %.0f s)", self._grace)
        server.should_exit = True
        parts = [*self._pumps, *self._timers.values()]
        await asyncio.gather(*(p.stop(self._grace) for p in parts), self._drain_background())
        await serving
        store_pool.shutdown(wait=True)

    def _pump(self, fn: QueueFunction, pool: ThreadPoolExecutor) -> QueuePump:
        limit = self.options.max_concurrent_sessions if fn.sessions else self.options.max_concurrent_calls
        return QueuePump(fn, self.store(), self._invoke, pool, max_concurrency=limit,
                         max_lock_renewal_seconds=self.options.max_lock_renewal_seconds,
                         session_idle_seconds=self.options.session_idle_seconds)

    async def _drain_background(self) -> None:
        if self._background:
            _, pending = await asyncio.wait(self._background, timeout=self._grace)
            for task in pending:
                task.cancel()

    def run_now(self, fn: IndexedFunction, value: str) -> None:
        """``POST /admin/functions/{name}``: run a non-HTTP function now, in the background."""
        if isinstance(fn, TimerFunction):
            coro = self._timers[fn.name].run_once(past_due=False)
        else:
            coro = self._invoke_direct(fn, value)
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _invoke_direct(self, fn: IndexedFunction, value: str) -> None:
        try:
            # Like Azure: an Event Grid function takes the event's JSON, a queue function the message body.
            trigger = event_grid_event(json.loads(value)) if isinstance(fn, EventGridFunction) \
                else direct_service_bus_message(value)
            await self._invoke(fn, trigger, reason=HOST_API_REASON)
        except Exception:
            log.exception("Function '%s' failed", fn.name)

    def _on_signal(self, sig: signal.Signals) -> None:
        assert self._stop_requested is not None
        if self._stop_requested.is_set():
            # A second Ctrl+C means "now", as with func; a repeated SIGTERM just waits.
            if sig == signal.SIGINT:
                log.warning("Second interrupt: exiting without settling in-flight work")
                os._exit(130)
            return
        self._stop_requested.set()

    def request_stop(self) -> None:
        if self._loop is not None and self._stop_requested is not None:
            with suppress(RuntimeError):  # the loop already ended: nothing left to stop
                self._loop.call_soon_threadsafe(self._stop_requested.set)

    # -- in-process use (tests, demos) ---------------------------------------------------------

    def start(self, timeout: float = 30) -> LocalFunctionHost:
        """Prepare, then serve on a background thread; returns once the host is ready."""
        self.prepare()
        self._thread = threading.Thread(target=self._thread_main, name="funchost", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("funchost did not start") from self._failure
        return self

    def run(self, *, announce: bool = True) -> None:
        """Serve in this (main) thread until SIGINT/SIGTERM: the command line's entry point."""
        self.prepare()
        run_in_new_loop(self.serve(handle_signals=True, announce=announce))

    def _thread_main(self) -> None:
        try:
            run_in_new_loop(self.serve())
        except BaseException as exc:  # reported to start(), which raises it in the caller
            self._failure = exc
            log.exception("funchost stopped with an error")

    def stop(self, timeout: float = 30) -> None:
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> LocalFunctionHost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

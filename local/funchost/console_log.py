"""The host's console log: records written to a buffer on the calling thread and flushed by a thread of its own every
``interval`` seconds (and at once for warnings and errors), so a function's log line costs no write to the pipe on
the event loop, much as the worker ships logs to the host over gRPC."""

from __future__ import annotations

import logging
import os
import threading
from typing import IO, Any

__all__ = ["BufferedConsoleHandler"]


class BufferedConsoleHandler(logging.StreamHandler):  # type: ignore[type-arg]
    def __init__(self, fd: int, *, interval: float = 0.1) -> None:
        stream: IO[str] = os.fdopen(os.dup(fd), "w", buffering=1 << 16, encoding="utf-8", errors="backslashreplace")
        super().__init__(stream)
        self._interval = interval
        self._stopped = threading.Event()
        self._flusher = threading.Thread(target=self._flush_now_and_then, name="funchost-log", daemon=True)
        self._flusher.start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
            with self.lock:  # type: ignore[union-attr]
                self.stream.write(line)
                if record.levelno >= logging.WARNING:
                    self.stream.flush()
        except Exception:
            self.handleError(record)

    def _flush_now_and_then(self) -> None:
        while not self._stopped.wait(self._interval):
            self.flush()

    def close(self, *args: Any) -> None:
        self._stopped.set()
        self.flush()
        super().close()
        self.stream.close()

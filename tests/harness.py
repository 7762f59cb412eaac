"""A real SpeechSense server on its own event-loop thread, for tests that talk to it over a socket."""

from __future__ import annotations

import asyncio
import threading

from speechsense.server.app import create_server
from speechsense.server.config import ServerOptions


class ServerHandle:
    """A real SpeechSense server on its own event loop thread, as a client outside the process sees it."""

    def __init__(self, options: ServerOptions) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="test-server", daemon=True)
        self._thread.start()
        self.server, self.port = self._call(self._start(options), timeout=60)
        self.address = f"127.0.0.1:{self.port}"

    @staticmethod
    async def _start(options: ServerOptions):
        server, port = create_server(options)
        await server.start()
        return server, port

    def _call(self, coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def read_rest_while_stopping(self, call, grace: float = 5) -> list:
        """The rest of an open call's responses, read while the server stops with `grace` (from another thread,
        as a SIGTERM would): what a client sees of a graceful shutdown."""
        stopper = threading.Thread(target=self.stop, kwargs={"grace": grace})
        stopper.start()
        rest = list(call)
        stopper.join(grace + 15)
        return rest

    def stop(self, grace: float = 0) -> None:
        if not self.loop.is_running():
            return
        self._call(self.server.stop(grace), timeout=grace + 30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

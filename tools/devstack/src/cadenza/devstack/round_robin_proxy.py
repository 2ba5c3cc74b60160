"""A round-robin TCP proxy on loopback: several gateways behind one port, as a load
balancer would put them.

Each client connection goes to the next backend and stays there, byte for byte, so HTTP/1.1
keep-alive and WebSockets work unchanged (the same as a layer-4 balancer or Kubernetes'
Service). A backend that refuses the connection is skipped for the next one. At most
`max_connections` are proxied at once (a client over the bound is closed at once, and
counted); the proxy remembers which backend the last `max_remembered` connections got, by
the client's address, so a test can say which replica it talked to.

No library: what is needed is forty lines of asyncio streams, and the well-kept proxies
(HAProxy, Envoy, nginx) are not Python packages to start from a test.

    python -m cadenza.devstack.round_robin_proxy --port 8000 127.0.0.1:8001 127.0.0.1:8002
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from types import TracebackType

log = logging.getLogger(__name__)

Address = tuple[str, int]
CHUNK = 64 * 1024


class RoundRobinProxy:
    """Start with `await proxy.start()` in a running loop, or `with ProxyThread(proxy):`."""

    def __init__(
        self,
        backends: Sequence[Address],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        max_connections: int = 512,
        connect_timeout_s: float = 5.0,
        max_remembered: int = 10_000,
    ) -> None:
        if not backends:
            raise ValueError("a proxy needs at least one backend")
        self.backends = list(backends)
        self.host = host
        self.port = port
        self.max_connections = max_connections
        self.connect_timeout_s = connect_timeout_s
        self.max_remembered = max_remembered
        self.open = 0
        self.refused = 0
        # Accepted connections per backend index (a backend that refused is not counted).
        self.served = [0] * len(self.backends)
        self._next = itertools.cycle(range(len(self.backends)))
        self._routed: OrderedDict[Address, int] = OrderedDict()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def backend_of(self, client: Address) -> int | None:
        """The index of the backend the connection from `client` (its address as the client
        sees its own end: host and port) was sent to; None if unknown."""
        return self._routed.get((client[0], client[1]))

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, client_in: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        if self.open >= self.max_connections:
            self.refused += 1
            client.close()
            return
        self.open += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._proxy(client_in, client)
        except asyncio.CancelledError:
            pass  # the proxy is stopping
        finally:
            self._tasks.discard(task)
            self.open -= 1
            client.close()

    async def _proxy(self, client_in: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        opened = await self._connect()
        if opened is None:
            log.warning("no backend accepted a connection: %s", self.backends)
            return
        index, backend_in, backend = opened
        self.served[index] += 1
        peer = client.get_extra_info("peername")
        self._routed[(peer[0], peer[1])] = index
        while len(self._routed) > self.max_remembered:
            self._routed.popitem(last=False)
        # Each direction until its end of file, passed on as a half-close; a reset on
        # either side ends both.
        pipes = {
            asyncio.create_task(_pipe(client_in, backend)),
            asyncio.create_task(_pipe(backend_in, client)),
        }
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for pipe in pipes:
                pipe.cancel()
            await asyncio.gather(*pipes, return_exceptions=True)
            backend.close()

    async def _connect(
        self,
    ) -> tuple[int, asyncio.StreamReader, asyncio.StreamWriter] | None:
        """The next backend that accepts, each tried at most once."""
        for _ in self.backends:
            index = next(self._next)
            host, port = self.backends[index]
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port), self.connect_timeout_s
                )
            except (OSError, TimeoutError):
                continue
            return index, reader, writer
        return None


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    while data := await source.read(CHUNK):
        sink.write(data)
        await sink.drain()
    if sink.can_write_eof() and not sink.is_closing():
        with contextlib.suppress(OSError):
            sink.write_eof()


class ProxyThread:
    """The proxy on its own event loop in a daemon thread, for synchronous callers (the
    platform, tests): `with ProxyThread(RoundRobinProxy(...)) as proxy: proxy.port`."""

    def __init__(self, proxy: RoundRobinProxy) -> None:
        self.proxy = proxy
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.proxy.port

    def start(self) -> None:
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.proxy.start(), self._loop).result(10)
        except BaseException:
            self.stop()  # the port taken, say: no loop left behind
            raise

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.proxy.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> RoundRobinProxy:
        self.start()
        return self.proxy

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _address(text: str) -> Address:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


async def _serve(proxy: RoundRobinProxy) -> None:
    await proxy.start()
    print(f"round robin on {proxy.host}:{proxy.port} to {proxy.backends}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="round-robin-proxy", description=__doc__)
    parser.add_argument("backends", nargs="+", type=_address, help="HOST:PORT of each backend")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-connections", type=int, default=512)
    args = parser.parse_args()
    proxy = RoundRobinProxy(
        args.backends, host=args.host, port=args.port, max_connections=args.max_connections
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(proxy))


if __name__ == "__main__":
    main()

"""An amqtt broker run in-process on its own asyncio loop thread: the offline default hub."""

from __future__ import annotations

import asyncio
import logging
import threading

from app.wire.hub import AccessPolicy, HubError
from app.wire.transports import free_port

log = logging.getLogger(__name__)


REVALIDATE_S = 2.0  # how soon a removed edge's live connection is cut


class EmbeddedMqttBroker:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        access: AccessPolicy | None = None,
        tls=None,  # embedded.ServerTls; client certificates are checked when given
    ) -> None:
        self.host = host
        self.tls = tls
        self.port = port or free_port(host)
        self.access = None
        if access is not None:
            from app.backends.mqtt.access_plugin import BrokerAccess

            self.access = BrokerAccess(access)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker = None

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    def _config(self) -> dict:
        return {
            "listeners": {"default": self._listener()},
            # No packet/event logger plugins: they cost throughput and flood the log.
            "plugins": (
                {"app.backends.mqtt.access_plugin.AccessPlugin": {"key": self.access.key}}
                if self.access is not None
                else {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}
            ),
        }

    def _listener(self) -> dict:
        listener = {"type": "tcp", "bind": f"{self.host}:{self.port}"}
        if self.tls is not None:
            listener |= {
                "ssl": True,
                "certfile": str(self.tls.cert),
                "keyfile": str(self.tls.key),
                "cafile": str(self.tls.ca),
            }
        return listener

    def start(self, timeout: float = 15.0) -> EmbeddedMqttBroker:
        from amqtt.broker import Broker

        # amqtt logs every connection at INFO; keep the node's own log readable.
        logging.getLogger("amqtt").setLevel(logging.WARNING)
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        async def boot() -> None:
            try:
                broker = Broker(self._config(), loop=loop)
                broker._subscriptions = _SnapshotSubscriptions(broker._subscriptions)
                await broker.start()
                self._broker = broker
            except BaseException as exc:
                failure.append(exc)
            finally:
                ready.set()
            if self.access is not None and not failure:
                self._watch = loop.create_task(self._revalidate())

        def run() -> None:
            asyncio.set_event_loop(loop)
            self._boot = loop.create_task(boot())
            loop.run_forever()
            _drain(loop)

        self._loop = loop
        self._thread = threading.Thread(target=run, name="feddeck-mqtt-broker", daemon=True)
        self._thread.start()
        if not ready.wait(timeout) or failure:
            self.stop()
            reason = failure[0] if failure else "timeout"
            raise HubError(f"embedded MQTT broker failed to start on {self.port}: {reason}")
        return self

    async def _revalidate(self) -> None:
        from app.backends.mqtt.access_plugin import drop_revoked

        while True:
            await asyncio.sleep(REVALIDATE_S)
            try:
                await drop_revoked(self.access, self._broker)
            except Exception:  # the database may be briefly busy; next round
                log.exception("revalidating broker connections failed")

    def stop(self) -> None:
        loop, self._loop = self._loop, None
        if self.access is not None:
            self.access.release()
        if loop is None:
            return
        if getattr(self, "_watch", None) is not None:
            loop.call_soon_threadsafe(self._watch.cancel)
            self._watch = None
        if self._broker is not None:
            fut = asyncio.run_coroutine_threadsafe(_shutdown(self._broker), loop)
            try:
                fut.result(timeout=15)
            except Exception as exc:
                log.warning("embedded broker shutdown: %r", exc)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._broker = None

    def __enter__(self) -> EmbeddedMqttBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _SnapshotSubscriptions(dict):
    """amqtt's broadcast walks its subscriptions with `items()`, awaiting the access check
    of each subscriber; a client subscribing or leaving meanwhile changed them under the
    walk, and the message was lost ("dictionary changed size during iteration") or skipped
    a subscriber. Each walk gets its own copy."""

    def items(self):
        return [(topic, list(subscribers)) for topic, subscribers in super().items()]


async def _shutdown(broker) -> None:
    """Stop listening and cut every client first, then shut the broker down. amqtt closes
    its listeners and connections only after steps that can fail or hang with clients
    mid-flight; a listener left open would hold the port, and a connection left open would
    keep its client believing it is connected (so it would not reconnect to a new broker)."""
    for server in list(broker._servers.values()):
        if server.instance is not None:
            server.instance.close()
    for _session, handler in list(broker._sessions.values()):
        stream = getattr(getattr(handler, "writer", None), "_writer", None)  # asyncio's writer
        if stream is not None:
            stream.transport.abort()
    await asyncio.wait_for(broker.shutdown(), 10)


def _drain(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what the broker left running and let it finish before the loop closes, so no
    coroutine of it is collected later on a closed loop."""
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


def serve(host: str, port: int, *, limits=None, access=None, tls=None) -> EmbeddedMqttBroker:
    """The transport registry's server builder: an amqtt broker started on host:port (the
    broker's own limits apply; the nodes' hub clients enforce `limits`)."""
    return EmbeddedMqttBroker(host, port, access, tls).start()

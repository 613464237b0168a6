"""Start Nirvana: `python run.py` (or `make run`); `python run.py --help` prints USAGE.

With no configuration it starts an embedded PostgreSQL and an embedded MongoDB-wire server
under ./var and serves HTTP and WebSocket on 127.0.0.1:8000. See the README for the settings.
"""

from __future__ import annotations

import asyncio
import dataclasses
import contextlib
import errno
import logging
import os
import signal
import socket
import sys
import threading
from typing import NoReturn
from pathlib import Path

import uvicorn

from nirvana.app import create_app
from nirvana.bootstrap import open_services
from nirvana.deployment_identity import DeploymentCheckError
from nirvana.instance_guard import InstanceClaim, InstanceRunning, claim_instance, refuse_mixed
from nirvana.leases import new_holder
from nirvana.logs import configure_logging
from nirvana.serving import loop_factory, open_listener, tune_gc, uvicorn_options
from nirvana.settings import ConfigError, Settings, setting_names
from nirvana.storage.datadir_lock import DataDirInUseError, DataDirLock
from nirvana.storage.embedded import EmbeddedError, EmbeddedMongo, EmbeddedPostgres
from nirvana.storage.postgres.leases import PgLeases
from nirvana.storage.postgres.pool import create_pool, migrate
from nirvana.wiring.accounts import load_or_create_secret
from nirvana.wiring.deployment import check_deployment_stores

log = logging.getLogger("nirvana")


USAGE = """\
usage: python run.py          (or: make run)

Starts one Nirvana server. It takes no arguments: every setting is an environment
variable, read once at start (a bad value stops the start with one line naming it).
With none set, it runs an embedded PostgreSQL and an embedded MongoDB-wire server
under ./var and serves HTTP and WebSocket on http://127.0.0.1:8000.

Settings (defaults and meanings: README.md, "Configuration"):
{names}

Several instances (REDIS_URL) behind a proxy: docs/deployment.md.
Example: DATA_DIR=/tmp/try PORT=8001 python run.py
"""


def usage() -> str:
    names = setting_names()
    lines = ["  " + "  ".join(names[i:i + 4]) for i in range(0, len(names), 4)]
    return USAGE.format(names="\n".join(lines))


def fail(message: str, code: int = 1) -> NoReturn:
    print(f"nirvana: error: {message}", file=sys.stderr)
    sys.exit(code)


def check_data_dir(data_dir: Path) -> None:
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        probe = data_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        fail(f"data directory {data_dir} is not writable: {exc.strerror or exc}")


def bind(host: str, port: int) -> socket.socket:
    # Bound here, before any database starts, so a busy port fails fast and in one line;
    # uvicorn is then handed the socket, so nothing can take the port in between.
    try:
        return open_listener(host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            fail(f"port {port} on {host} is already in use (set PORT to use another)")
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


class Server(uvicorn.Server):
    """uvicorn's server, but WebSockets are closed with 1001 (going away) before it stops,
    and a stop signal is not re-raised afterwards: run.py still has its databases to stop."""

    @contextlib.contextmanager
    def capture_signals(self):
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit)
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    async def shutdown(self, sockets=None) -> None:
        # Stop listening first, as uvicorn's own shutdown does but before the hook closes
        # the WebSockets: a balancer's next connect then fails over to another instance
        # instead of opening a socket here that the stop closes again (1012).
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        # And the idle keep-alive connections (a balancer's pool, which would bring its next
        # request or upgrade here unaware of the stop); a busy one closes after its response
        # (the recipe's upstream keepalive_timeout is shorter than uvicorn's, so nginx ends
        # idle ones first). The WebSockets are the hook's (1001).
        for connection in list(self.server_state.connections):
            if not isinstance(connection, self.config.ws_protocol_class):
                connection.shutdown()
        app = self.config.loaded_app
        services = getattr(getattr(app, "state", None), "services", None)
        hook = getattr(services, "before_shutdown", None)
        if hook is not None:
            await hook()
        await super().shutdown(sockets)


async def claim_databases(settings: Settings, database_url: str, mongodb_url: str,
                          instance: InstanceClaim | None) -> None:
    """Before serving, so a process that must not run refuses in one line: never on
    stores of two deployments (deployment_identity.py), never beside processes of the other
    kind (with and without REDIS_URL); without REDIS_URL, take the
    single-instance lease (the services then hold it under the same name, keeping its
    epoch)."""
    pool = await create_pool(database_url, timeout=settings.store_timeout, min_size=1,
                             max_size=1)
    try:
        await migrate(pool)
        await check_deployment_stores(settings, pool, mongodb_url)
        leases = PgLeases(pool)
        await refuse_mixed(leases, with_redis=instance is None)
        if instance is not None:
            await claim_instance(leases, instance.holder, instance.url)
    finally:
        await pool.close()


def stop_self() -> None:
    # Another process took the lease: this one was paused past it, and must not go on
    # writing beside the new holder. A graceful stop, as on SIGTERM.
    log.error("another Nirvana took over these databases while this one was paused; stopping")
    os.kill(os.getpid(), signal.SIGTERM)


def main() -> None:
    if sys.argv[1:] in (["-h"], ["--help"]):
        print(usage(), end="")
        return
    if sys.argv[1:]:
        fail(f"run.py takes no arguments (got {' '.join(sys.argv[1:])}); "
             "see python run.py --help", 2)
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        fail(str(exc), 2)
    try:
        new_loop = loop_factory(settings.event_loop)
    except ImportError:
        fail(f"EVENT_LOOP={settings.event_loop} needs the uvloop package, which is not "
             "installed (it has no build for Windows or PyPy); set EVENT_LOOP=asyncio", 2)
    configure_logging(settings.log_level)
    data_dir = settings.data_dir.resolve()
    check_data_dir(data_dir)
    # Before anything touches the databases: a second Nirvana on this directory would take
    # the first one's children for orphans of a crash and stop them.
    try:
        lock = DataDirLock(data_dir).acquire()
    except DataDirInUseError as exc:
        fail(str(exc))
    sock = bind(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    # PORT=0 asks for any free port: links in mail and the instance's address in leases
    # name the one bound.
    settings = dataclasses.replace(settings, port=port)
    lock.announce(f"http://{host}:{port}")

    postgres = mongo = None
    try:
        database_url = settings.database_url
        if database_url is None:
            postgres = EmbeddedPostgres(data_dir / "postgres")
            database_url = postgres.start()
        mongodb_url = settings.mongodb_url
        if mongodb_url is None:
            mongo = EmbeddedMongo(data_dir / "mongo")
            mongodb_url = mongo.start()
        secret = settings.jwt_secret or load_or_create_secret(data_dir)
        # One process per set of databases unless they share events through Redis
        # (REDIS_URL): then any number run, and one at a time is the chat writer.
        instance = None
        if settings.redis_url is None:
            instance = InstanceClaim(new_holder(), f"http://{host}:{port}", on_lost=stop_self)
        try:
            asyncio.run(claim_databases(settings, database_url, mongodb_url, instance))
        except (InstanceRunning, DeploymentCheckError) as exc:
            fail(str(exc))

        async def services():
            return await open_services(
                settings, database_url=database_url, mongodb_url=mongodb_url, secret=secret,
                instance=instance,
            )

        app = create_app(settings, open_services=services)
        print(f"Nirvana listening on http://{host}:{port}  (WebSocket ws://{host}:{port}/ws)",
              flush=True)
        print(f"  data:       {data_dir}", flush=True)
        print(f"  PostgreSQL: {'embedded, ' + str(data_dir / 'postgres') if postgres else 'DATABASE_URL'}",
              flush=True)
        print(f"  MongoDB:    {'embedded, ' + str(data_dir / 'mongo') if mongo else 'MONGODB_URL'}",
              flush=True)
        print(f"  event loop: {settings.event_loop}", flush=True)
        config = uvicorn.Config(app, log_level=settings.log_level.lower(),
                                **uvicorn_options(settings))
        server = Server(config)
        tune_gc()
        with asyncio.Runner(loop_factory=new_loop) as runner:
            runner.run(server.serve(sockets=[sock]))
        if not server.started:
            fail("the server did not start; see the log above")
    except EmbeddedError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
        if mongo is not None:
            mongo.stop()
        if postgres is not None:
            postgres.stop()
        lock.release()
        print("Nirvana stopped.", flush=True)


if __name__ == "__main__":
    main()

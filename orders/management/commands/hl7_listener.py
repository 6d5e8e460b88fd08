"""The inbound MLLP listener: `manage.py hl7_listener [--host H] [--port P]`. Each framed message is handed to
orders.inbound.message_receive (kept, filed or queued, recorded) and answered with its ACK. Started by
`dev.py run` and docker-compose; a killed listener loses nothing (the lab re-sends what was not acknowledged)."""

from __future__ import annotations

import asyncio
import logging
import signal

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

logger = logging.getLogger("orders.listener")
MAX_FRAME_BYTES = 8_000_000  # read frames this large (a 2 MB OBX is kept and refused, not cut)


def _handle(raw: bytes, peer: str) -> bytes:
    from orders import hl7wire
    from orders.inbound import message_receive

    close_old_connections()
    try:
        return message_receive(raw, peer=peer)
    except Exception:  # the database is unreachable: nothing recorded, the lab must send again
        logger.exception("inbound message not recorded")
        return hl7wire.build_bare_ack(hl7wire.ERROR, "temporarily unable to receive; send again")
    finally:
        close_old_connections()


async def _client(reader, writer) -> None:
    from hl7.mllp import InvalidBlockError

    host, port = (writer.get_extra_info("peername") or ("?", "?"))[:2]
    peer = f"{host}:{port}"
    try:
        while True:
            try:
                raw = await reader.readblock()
            except InvalidBlockError:
                break
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            except ValueError:  # larger than MAX_FRAME_BYTES: answered, not kept (the sender still holds it)
                from orders import hl7wire

                writer.writeblock(hl7wire.build_bare_ack(hl7wire.REJECT, "message larger than 8 MB: refused"))
                await writer.drain()
                continue
            ack = await asyncio.to_thread(_handle, bytes(raw), peer)
            writer.writeblock(ack)
            await writer.drain()
    finally:
        writer.close()


async def serve(host: str, port: int, ready=None) -> None:
    from hl7.mllp import start_hl7_server

    server = await start_hl7_server(_client, host, port, limit=MAX_FRAME_BYTES)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    logger.warning("HL7 listener on %s:%s", host, port)
    if ready:
        ready()
    async with server:
        await stop.wait()


class Command(BaseCommand):
    help = "Receive HL7 v2 results over MLLP (ORU^R01) and answer each with an ACK."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.HL7_LISTENER_HOST)
        parser.add_argument("--port", type=int, default=settings.HL7_LISTENER_PORT)

    def handle(self, *args, host, port, **opts):
        asyncio.run(
            serve(host, port, ready=lambda: self.stdout.write(f"listening on {host}:{port}", ending="\n"))
        )

"""uvicorn's WebSocket protocol, made to answer a handshake that `websockets` refuses.

`websockets` parses the upgrade request again after uvicorn's HTTP parser has passed it on,
with its own limits (a request line or a header line over 8 KiB, more than 128 headers).
Over them it queues a refusal (414, 431) but yields no request, and uvicorn's
websockets-sansio protocol only sends what `websockets` queued when a request arrives: the
client waited for ever on a 9 KB `?token=` or cookie. This protocol sends the refusal and
closes the connection at once.
"""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """The websockets-sansio protocol (uvicorn's default), plus a prompt refusal."""

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self.handshake_initiated and self.conn.handshake_exc is not None:
            # the refusal websockets queued (414/431), or nothing if it was not HTTP at all
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.close_sent = True
            self.transport.close()

"""A chunked response that fails honestly once it has started.

After the status line, an error cannot become a status code. Audio: the response is left
without its last chunk and the connection is closed, so the client reads an incomplete
body (its HTTP library raises), never a short file that looks whole. SSE: an ``error``
event in OpenAI's shape, then a proper end. Either way one line goes to the log.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.responses import StreamingResponse

from avbench.serve.errors import first_line

log = logging.getLogger("avbench.serve")

# uvicorn's own line for a response left incomplete; this module logged the cause already.
INCOMPLETE = "ASGI callable returned without completing response."


class SpeechStream(StreamingResponse):
    def __init__(self, content: Any, media_type: str, sse: bool = False) -> None:
        super().__init__(content, media_type=media_type)
        self.sse = sse

    async def stream_response(self, send: Any) -> None:
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})
        sent = 0
        try:
            async for chunk in self.body_iterator:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                sent += len(chunk)
        except Exception as error:  # the status line is gone: end the body, log one line
            how = "error event sent" if self.sse else "connection closed, body incomplete"
            log.error("speech stream failed after %d bytes (%s): %s: %s", sent, how,
                      type(error).__name__, first_line(error))
            if not self.sse:
                return
            event = {"type": "error", "error": {
                "message": f"synthesis failed: {first_line(error)}", "type": "server_error",
                "param": None, "code": "internal_error"}}
            await send({"type": "http.response.body", "more_body": True,
                        "body": f"data: {json.dumps(event)}\n\n".encode()})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class DropIncomplete(logging.Filter):
    """Drop uvicorn's generic line for a response SpeechStream ended on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != INCOMPLETE

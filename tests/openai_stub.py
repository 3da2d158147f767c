"""An OpenAI-compatible chat server on 127.0.0.1 for tests: it answers each request with a digest
of the exact pixels of the request's image, and counts the requests it answered."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image


def pixel_digest(image: Image.Image) -> str:
    return "img" + hashlib.sha1(np.asarray(image.convert("RGB")).tobytes()).hexdigest()[:10]


@dataclass
class Stub:
    base_url: str
    delay: float
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(stub: Stub) -> type[BaseHTTPRequestHandler]:
    class StubChat(BaseHTTPRequestHandler):
        """POST /v1/chat/completions: answers with the digest of the request's image."""

        def do_POST(self):  # noqa: N802 (http.server's naming)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            urls = [part["image_url"]["url"] for message in body["messages"] if isinstance(message["content"], list)
                    for part in message["content"] if part.get("type") == "image_url"]
            image = Image.open(io.BytesIO(base64.b64decode(urls[0].split(",", 1)[1])))
            time.sleep(stub.delay)
            with stub.lock:
                stub.calls += 1
            reply = {
                "id": "stub", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": pixel_digest(image)}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    return StubChat


@contextmanager
def serve_stub(delay: float = 0.0) -> Iterator[Stub]:
    """A running stub server (its base URL ends in /v1), shut down on exit."""
    stub = Stub(base_url="", delay=delay)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    stub.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()

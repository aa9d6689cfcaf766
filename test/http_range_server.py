"""A static file server that answers HTTP range requests, as the object stores that hold COGs do, and counts the
bytes it sends (GET /bytes-served) so tests can check that a reader fetched windows, not whole files.
Run: python http_range_server.py FOLDER PORT. Python's own http.server ignores Range headers."""
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SERVED = {"bytes": 0}
LOCK = threading.Lock()


class RangeHandler(BaseHTTPRequestHandler):
    root = "."

    def log_message(self, *args):
        pass

    def _send(self, status, body, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(body)
            with LOCK:
                SERVED["bytes"] += len(body)

    def do_HEAD(self):  # noqa: N802
        self.do_GET()

    def do_GET(self):  # noqa: N802
        if self.path == "/bytes-served":
            self.send_response(200)
            body = str(SERVED["bytes"]).encode()
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        path = os.path.realpath(os.path.join(self.root, self.path.split("?")[0].lstrip("/")))
        if not path.startswith(os.path.realpath(self.root) + os.sep) or not os.path.isfile(path):
            self._send(404, b"not found")
            return
        size = os.path.getsize(path)
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
        with open(path, "rb") as f:
            if not match:
                self._send(200, f.read(), [("Accept-Ranges", "bytes")])
                return
            first, last = match.groups()
            start = int(first) if first else max(0, size - int(last))
            end = min(size - 1, int(last)) if first and last else size - 1
            if start >= size:
                self._send(416, b"", [("Content-Range", f"bytes */{size}")])
                return
            f.seek(start)
            self._send(206, f.read(end - start + 1),
                       [("Accept-Ranges", "bytes"), ("Content-Range", f"bytes {start}-{end}/{size}")])


if __name__ == "__main__":
    RangeHandler.root = sys.argv[1]
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), RangeHandler).serve_forever()

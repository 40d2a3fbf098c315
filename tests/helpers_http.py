"""The skeleton of the loopback HTTP servers that stand in for the Hugging Face Hub in tests."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler


class QuietHandler(BaseHTTPRequestHandler):
    """HEAD and GET both answered by ``_serve``; no request log on stderr (keeps pytest output clean)."""

    def log_message(self, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _serve(self, *, body: bool) -> None:
        raise NotImplementedError

"""A local fake provider on 127.0.0.1 speaking the Anthropic Messages and OpenAI chat
wire formats (plus both batch APIs), driven by the real SDK clients via ``base_url``.

It reads the prompt like a model would: the characteristic and the ``<item id=...>``
blocks, answers with an oracle (``oracle(description, item_text) -> bool``; default:
the description occurs in the item text, case-insensitively), and records every
request so tests can assert the wire traffic. Knobs inject trouble: shuffled answer
order, unknown ids, omitted ids, conflicting ids, malformed answers, and transport
faults (HTTP errors with headers, dropped connections, slow answers, a 200 with an HTML or
truncated body, an answer edited to be cut off, refused or empty). The model
answers it sent are kept too (``Recorded.response``), so tests can compare what a
client stored with what the wire carried.

Socket tuning: the handler sets ``TCP_NODELAY`` (``disable_nagle_algorithm``; without
it every answer, written as headers then body, stalls ~40 ms on Nagle + delayed ACK)
and the server listens with a backlog of 128 (``request_queue_size``; the socketserver
default of 5 drops the SYNs of 16 concurrent connections, which then wait 1 s to retry).
"""

from __future__ import annotations

import email.parser
import html
import json
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

__all__ = ["FakeProvider", "Fault", "Recorded", "parse_items"]

_ITEM = re.compile(r'<item id="([^"]*)">\n(.*?)\n</item>', re.DOTALL)
_CHAR = re.compile(r"^Characteristic: (.*)$", re.MULTILINE)


def parse_items(text: str) -> list[tuple[str, str]]:
    """The ``(id, text)`` of every item block in ``text``, unescaped."""
    return [(html.unescape(i), html.unescape(t)) for i, t in _ITEM.findall(text)]


@dataclass
class Fault:
    """One transport fault served instead of an answer.

    kind: ``"pass"`` (no fault: answer; to fail after some calls), ``"status"`` (HTTP
    ``status`` with ``headers`` and an error body), ``"drop"``
    (close the connection without answering), ``"sleep"`` (answer after ``seconds``),
    ``"raw"`` (HTTP ``status`` with ``body`` bytes of ``content_type``: an HTML page, non-JSON
    text), ``"truncate"`` (the model's answer announced in full by Content-Length, cut after
    ``cut`` bytes, then the connection closed) or ``"edit"`` (the model's answer passed
    through ``edit(answer_json) -> answer_json`` first: a cut-off, refused or empty answer).
    """

    kind: str
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    error_type: str = "api_error"
    message: str = "boom"
    body: bytes = b""
    content_type: str = "text/html"
    cut: int = 40
    edit: Callable[[dict[str, Any]], dict[str, Any]] | None = None


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    time: float
    response: Any = None  # the JSON body of a model answer (messages, chat completions)


def default_oracle(description: str, text: str) -> bool:
    return description.lower() in text.lower()


class FakeProvider:
    """The server state and knobs. Use as a context manager (starts a thread)."""

    def __init__(self, oracle: Callable[[str, str], bool] = default_oracle, seed: int = 0) -> None:
        self.oracle = oracle
        self.rng = random.Random(seed)
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.shuffle = True
        self.unknown_ids: list[str] = []
        self.omit: dict[str, int] = {}  # id -> how many answers still omit it
        self.conflict: dict[str, int] = {}  # id -> how many answers still list it both ways
        self.malformed = 0  # how many answers are still malformed
        self.probability = 0.9
        self.delay = 0.0  # seconds each model call takes
        self.in_flight = 0
        self.max_in_flight = 0
        self.batch_polls = 2  # GETs of a batch before it ends
        self.batch_fail: set[str] = set()  # custom_ids whose batch request errors
        self.batches: dict[str, dict[str, Any]] = {}
        self.files: dict[str, bytes] = {}
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> "FakeProvider":
        provider = self

        class Handler(_Handler):
            fake = provider

        self._server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def model_calls(self) -> list[Recorded]:
        """Requests to the model endpoints (messages, chat completions)."""
        return [r for r in self.requests if r.path in ("/v1/messages", "/v1/chat/completions")]

    # ------------------------------------------------------------------ the "model"
    def answer(self, system: str, user: str, name: str | None) -> tuple[dict[str, Any] | None, str]:
        """The answer object for a prompt (or ``None`` and broken text when malformed)."""
        with self.lock:
            if self.malformed > 0:
                self.malformed -= 1
                return None, '{"holds": ["oops", '
        if name == "record_characteristic" or "Positive group:" in user:
            pos_part, neg_part = user.split("Negative group:", 1)
            pos = [i for i, _ in parse_items(pos_part)]
            neg = [i for i, _ in parse_items(neg_part)]
            return {"characteristic": f"like {','.join(pos)}", "rationale": f"unlike {','.join(neg)}"}, ""
        if name == "record_features" or user.startswith("Task:"):
            task = user.split("\n", 1)[0][len("Task: "):]
            n = int(re.search(r"Propose (\d+) characteristics", user).group(1))  # type: ignore[union-attr]
            return {"features": [f"feature {k} of {html.unescape(task)}" for k in range(n)]}, ""
        description = html.unescape(_CHAR.search(user).group(1))  # type: ignore[union-attr]
        items = parse_items(user)
        if name == "record_judgment" or (name is None and "\"answer\"" in system):
            (i, text), = items
            value = self.oracle(description, text)
            p = self.probability if value else 1 - self.probability
            return {"id": i, "answer": "yes" if value else "no", "probability": p}, ""
        holds, not_holds = [], []
        with self.lock:
            for i, text in items:
                if self.omit.get(i, 0) > 0:
                    self.omit[i] -= 1
                    continue
                (holds if self.oracle(description, text) else not_holds).append(i)
                if self.conflict.get(i, 0) > 0:
                    self.conflict[i] -= 1
                    (not_holds if self.oracle(description, text) else holds).append(i)
            holds += self.unknown_ids
            if self.shuffle:
                self.rng.shuffle(holds)
                self.rng.shuffle(not_holds)
        return {"holds": holds, "does_not_hold": not_holds}, ""

    def anthropic_message(self, body: dict[str, Any]) -> dict[str, Any]:
        tools = body.get("tools") or []
        name = tools[0]["name"] if tools else None
        user = body["messages"][0]["content"]
        if isinstance(user, list):  # an image request
            kinds = [b["type"] for b in user]
            media = next(b["source"]["media_type"] for b in user if b["type"] == "image")
            content = [{"type": "text", "text": f"an image ({media}, blocks {kinds})"}]
            stop = "end_turn"
        else:
            obj, bad = self.answer(body.get("system", ""), user, name)
            if obj is not None and name is not None:
                content = [{"type": "tool_use", "id": "toolu_" + uuid.uuid4().hex[:12], "name": name, "input": obj}]
                stop = "tool_use"
            else:
                content = [{"type": "text", "text": bad if obj is None else json.dumps(obj)}]
                stop = "end_turn"
        n_in = len(json.dumps(body)) // 4
        return {
            "id": "msg_" + uuid.uuid4().hex[:12], "type": "message", "role": "assistant", "model": body["model"],
            "content": content, "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": n_in, "output_tokens": len(json.dumps(content)) // 4},
        }

    def openai_completion(self, body: dict[str, Any]) -> dict[str, Any]:
        msgs = body["messages"]
        if isinstance(msgs[-1]["content"], list):
            parts = msgs[-1]["content"]
            url = next(p["image_url"]["url"] for p in parts if p["type"] == "image_url")
            text = f"an image ({url.split(';')[0][5:]}, parts {[p['type'] for p in parts]})"
        else:
            system = msgs[0]["content"] if msgs[0]["role"] == "system" else ""
            rf = body.get("response_format") or {}
            name = rf.get("json_schema", {}).get("name") if rf.get("type") == "json_schema" else None
            obj, bad = self.answer(system, msgs[-1]["content"], name)
            text = bad if obj is None else json.dumps(obj)
        return {
            "id": "chatcmpl-" + uuid.uuid4().hex[:12], "object": "chat.completion", "created": int(time.time()),
            "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop", "logprobs": None}],
            "usage": {"prompt_tokens": len(json.dumps(body)) // 4, "completion_tokens": len(text) // 4,
                      "total_tokens": len(json.dumps(body)) // 4 + len(text) // 4},
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # listen backlog: 16+ concurrent connections without SYN drops


class _Handler(BaseHTTPRequestHandler):
    fake: FakeProvider
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY: no ~40 ms stall between header and body writes

    def log_message(self, format: str, *args: Any) -> None:  # silence
        pass

    # ------------------------------------------------------------------ plumbing
    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None, raw: bytes | None = None) -> None:
        data = raw if raw is not None else json.dumps(payload).encode()
        headers = dict(headers or {})
        try:
            self.send_response(status)
            self.send_header("Content-Type", headers.pop("Content-Type", "application/json" if raw is None
                                                         else "application/octet-stream"))
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _record(self) -> Recorded:
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        ctype = self.headers.get("Content-Type", "")
        body: Any = raw
        if ctype.startswith("application/json") and raw:
            body = json.loads(raw)
        elif ctype.startswith("multipart/form-data"):
            msg = email.parser.BytesParser().parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + raw)
            body = {}
            for part in msg.get_payload():  # type: ignore[union-attr]
                key = part.get_param("name", header="content-disposition")
                body[key] = part.get_payload(decode=True)
        rec = Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
        with self.fake.lock:
            self.fake.requests.append(rec)
        return rec

    def _fault(self, provider: str, answer: Callable[[], dict[str, Any]]) -> bool:
        """Serve the next queued fault; True when the request is done."""
        with self.fake.lock:
            fault = self.fake.faults.pop(0) if self.fake.faults else None
        if fault is None or fault.kind == "pass":
            return False
        if fault.kind == "drop":
            self.close_connection = True
            return True
        if fault.kind == "sleep":
            time.sleep(fault.seconds)
            return False
        if fault.kind == "raw":
            self._send(fault.status, None, {**fault.headers, "Content-Type": fault.content_type}, raw=fault.body)
            return True
        if fault.kind in ("truncate", "edit"):
            body = answer()
            if fault.kind == "edit":
                assert fault.edit is not None
                body = fault.edit(body)
                self._send(200, body, fault.headers)
                return True
            data = json.dumps(body).encode()
            self.close_connection = True
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: fault.cut])
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass
            return True
        if provider == "anthropic":
            err = {"type": "error", "error": {"type": fault.error_type, "message": fault.message}}
        else:
            err = {"error": {"message": fault.message, "type": fault.error_type, "param": None, "code": fault.error_type}}
        self._send(fault.status, err, fault.headers)
        return True

    # ------------------------------------------------------------------ routes
    def do_POST(self) -> None:  # noqa: N802
        rec = self._record()
        f = self.fake
        if rec.path in ("/v1/messages", "/v1/chat/completions"):
            anthropic = rec.path == "/v1/messages"
            with f.lock:
                f.in_flight += 1
                f.max_in_flight = max(f.max_in_flight, f.in_flight)
            try:
                time.sleep(f.delay)

                def answer() -> dict[str, Any]:
                    rec.response = f.anthropic_message(rec.body) if anthropic else f.openai_completion(rec.body)
                    return rec.response

                if not self._fault("anthropic" if anthropic else "openai", answer):
                    self._send(200, answer())
            finally:
                with f.lock:
                    f.in_flight -= 1
        elif rec.path == "/v1/messages/batches":
            bid = "msgbatch_" + uuid.uuid4().hex[:12]
            results = [
                {"custom_id": r["custom_id"], "result": {"type": "succeeded", "message": f.anthropic_message(r["params"])}}
                if r["custom_id"] not in f.batch_fail else
                {"custom_id": r["custom_id"], "result": {"type": "errored", "error": {
                    "type": "error", "error": {"type": "api_error", "message": "internal"}}}}
                for r in rec.body["requests"]
            ]
            with f.lock:
                f.batches[bid] = {"provider": "anthropic", "polls": 0, "results": results, "n": len(results)}
            self._send(200, self._anthropic_batch(bid))
        elif rec.path == "/v1/files":
            fid = "file-" + uuid.uuid4().hex[:12]
            content = rec.body["file"]
            with f.lock:
                f.files[fid] = content
            self._send(200, {"id": fid, "object": "file", "bytes": len(content), "created_at": int(time.time()),
                             "filename": "batch.jsonl", "purpose": "batch", "status": "processed"})
        elif rec.path == "/v1/batches":
            bid = "batch_" + uuid.uuid4().hex[:12]
            lines = [json.loads(x) for x in f.files[rec.body["input_file_id"]].decode().splitlines() if x.strip()]
            out = [
                {"id": "batch_req_" + uuid.uuid4().hex[:8], "custom_id": x["custom_id"],
                 "response": {"status_code": 200, "request_id": "req", "body": f.openai_completion(x["body"])}, "error": None}
                if x["custom_id"] not in f.batch_fail else
                {"id": "batch_req_" + uuid.uuid4().hex[:8], "custom_id": x["custom_id"],
                 "response": {"status_code": 500, "request_id": "req", "body": {"error": {"message": "internal"}}},
                 "error": None}
                for x in lines
            ]
            ofid = "file-" + uuid.uuid4().hex[:12]
            with f.lock:
                f.batches[bid] = {"provider": "openai", "polls": 0, "n": len(out), "input_file_id": rec.body["input_file_id"],
                                  "output_file_id": ofid, "endpoint": rec.body["endpoint"]}
                f.files[ofid] = "\n".join(json.dumps(o) for o in out).encode() + b"\n"
            self._send(200, self._openai_batch(bid))
        else:
            self._send(404, {"type": "error", "error": {"type": "not_found_error", "message": rec.path}})

    def do_GET(self) -> None:  # noqa: N802
        rec = self._record()
        f = self.fake
        m = re.fullmatch(r"/v1/messages/batches/([^/]+)(/results)?", rec.path)
        if m:
            bid = m.group(1)
            if m.group(2):
                raw = "\n".join(json.dumps(r) for r in f.batches[bid]["results"]).encode() + b"\n"
                self._send(200, None, raw=raw)
            else:
                with f.lock:
                    f.batches[bid]["polls"] += 1
                self._send(200, self._anthropic_batch(bid))
            return
        m = re.fullmatch(r"/v1/batches/([^/]+)", rec.path)
        if m:
            with f.lock:
                f.batches[m.group(1)]["polls"] += 1
            self._send(200, self._openai_batch(m.group(1)))
            return
        m = re.fullmatch(r"/v1/files/([^/]+)/content", rec.path)
        if m:
            self._send(200, None, raw=f.files[m.group(1)])
            return
        self._send(404, {"error": {"message": rec.path, "type": "not_found"}})

    def _anthropic_batch(self, bid: str) -> dict[str, Any]:
        b = self.fake.batches[bid]
        ended = b["polls"] >= self.fake.batch_polls
        return {
            "id": bid, "type": "message_batch", "processing_status": "ended" if ended else "in_progress",
            "request_counts": {"processing": 0 if ended else b["n"], "succeeded": b["n"] if ended else 0,
                               "errored": 0, "canceled": 0, "expired": 0},
            "created_at": "2026-01-01T00:00:00Z", "expires_at": "2026-01-02T00:00:00Z", "ended_at": None,
            "archived_at": None, "cancel_initiated_at": None,
            "results_url": f"{self.fake.url}/v1/messages/batches/{bid}/results" if ended else None,
        }

    def _openai_batch(self, bid: str) -> dict[str, Any]:
        b = self.fake.batches[bid]
        done = b["polls"] >= self.fake.batch_polls
        return {
            "id": bid, "object": "batch", "endpoint": b["endpoint"], "errors": None, "input_file_id": b["input_file_id"],
            "completion_window": "24h", "status": "completed" if done else "in_progress",
            "output_file_id": b["output_file_id"] if done else None, "error_file_id": None,
            "created_at": int(time.time()), "request_counts": {"total": b["n"], "completed": b["n"] if done else 0, "failed": 0},
        }

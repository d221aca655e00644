"""Provider batch APIs for large extraction jobs: submit, poll, collect, resume.

A :class:`BatchJob` sends the first-round prompts of a judge job (the same prompts
:meth:`LLMBackend.ajudge` would send, shape 1 or 2) as one provider batch:

* Anthropic Message Batches (``messages.batches.create / retrieve / results``);
* OpenAI Batch (upload a JSONL file with ``purpose="batch"``, ``batches.create``,
  ``batches.retrieve``, download the output file).

The batch id and the request map (``custom_id -> item ids``) are written to a small
JSON state file (path given by the caller) right after submission, so a new process
calling :meth:`BatchJob.run` with the same description and items resumes the
submitted batch instead of submitting again. Ids missing from the batch answers
(or whose request failed) are asked again online, boundedly, like ``ajudge`` does.

With a ``cache`` (a :class:`~genz_pyro.fm.cache.JudgmentCache`), the collected
answers are written to it under the same keys an online
:class:`~genz_pyro.fm.cached.CachedModel` over the same model uses (the model's cache
identity, ``"judge"``, the description, each item's content hash), each with the raw
answer text and usage of the request that gave it: the batch answers as soon as they
are read, the online re-asks after. A later online run of the same job is then served
from the cache without a request. The cache is also read first: items it already answers
are not submitted (their ids go to the state file's ``cached_ids``), and a job it answers
entirely submits no batch at all (state ``status: "cached"``, no batch id).

The state file holds ids, the description and hashes, never the API key.
Cost: a budget, if the model has one, is charged at submission by the estimate
(batch prices are ``batch_discount`` times the online price).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Mapping

from .cache import JudgmentCache
from .cached import CachedModel, model_identity, store_quietly
from .errors import MalformedAnswerError, ProviderError
from .llm import LLMBackend, _gather_all
from .parsing import loads_strict, parse_judgments
from .prompts import ANSWER_NAMES, Prompt
from .protocol import CallRecord, Item, Judgment, Usage, render_item, run_sync

__all__ = ["BatchJob", "STATE_FORMAT"]

log = logging.getLogger(__name__)

STATE_FORMAT = "genz-pyro-batch/1"
_OPENAI_ENDPOINT = "/v1/chat/completions"
_OPENAI_FAILED = ("failed", "expired", "cancelled", "cancelling")


def _job_key(model: LLMBackend, description: str, items: Mapping[str, Item]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(model.cache_identity(), sort_keys=True).encode())
    h.update(description.encode())
    for i, it in items.items():
        h.update(json.dumps([i, render_item(it)]).encode())
    return h.hexdigest()


class BatchJob:
    """One judge job through a provider batch API, resumable from ``state_path``.

    Args:
        model: an :class:`~genz_pyro.fm.anthropic_backend.AnthropicModel` or
            :class:`~genz_pyro.fm.openai_backend.OpenAIModel`.
        state_path: the JSON state file (created on submit; read on resume).
        poll_interval: seconds between status checks in :meth:`acollect`.
        max_wait: give up waiting after this many seconds (``None``: wait forever).
        batch_discount: batch price as a fraction of the online price.
        cache: serve the judgments it already holds (they are not submitted) and write the
            collected ones (with raw answers and usage) to it.
    """

    def __init__(
        self,
        model: LLMBackend,
        state_path: str | os.PathLike[str],
        *,
        poll_interval: float = 30.0,
        max_wait: float | None = None,
        batch_discount: float = 0.5,
        cache: JudgmentCache | None = None,
    ) -> None:
        if not isinstance(model, LLMBackend) or model.provider not in ("anthropic", "openai"):
            raise ValueError(f"model must be an AnthropicModel or OpenAIModel, got {type(model).__name__}")
        if not poll_interval > 0:
            raise ValueError(f"poll_interval must be positive seconds, got {poll_interval!r}")
        self.model = model
        self.state_path = Path(state_path)
        self.poll_interval = float(poll_interval)
        self.max_wait = max_wait
        if cache is not None and not isinstance(cache, JudgmentCache):
            raise ValueError(f"cache must be a JudgmentCache or None, got {type(cache).__name__}; JudgmentCache(path)")
        self.batch_discount = batch_discount
        self.cache = cache

    # ------------------------------------------------------------------ state file
    def load_state(self) -> dict[str, Any] | None:
        """The persisted state, or ``None`` when there is no state file."""
        if not self.state_path.exists():
            return None
        try:
            state = json.loads(self.state_path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"state_path {str(self.state_path)!r} is not a readable batch state file ({e}); "
                             "delete it to submit anew") from e
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"state_path {str(self.state_path)!r} is not a {STATE_FORMAT} file; use another path")
        return state

    def _save_state(self, state: dict[str, Any]) -> None:
        tmp = self.state_path.with_name(self.state_path.name + f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
        os.replace(tmp, self.state_path)

    # ------------------------------------------------------------------ submit
    async def asubmit(self, description: str, items: Mapping[str, Item]) -> str:
        """Submit the job (or find it already submitted in the state file); the batch id.

        Raises:
            ValueError: the state file belongs to another job.
        """
        key = _job_key(self.model, description, items)
        state = self.load_state()
        if state is not None:
            if state["job_key"] != key:
                raise ValueError(
                    f"state_path {str(self.state_path)!r} holds another job (batch {state['batch_id']}); "
                    "use another path for this job, or delete the file after collecting the old one"
                )
            log.info("batch %s already submitted; resuming", state["batch_id"])
            return str(state["batch_id"])
        if not items:
            raise ValueError("items is empty; a batch needs at least one item")
        cached = self._cached(description, items)
        if len(cached) == len(items):
            log.info("batch: all %d judgments are in the cache; nothing submitted", len(items))
            self._save_state({
                "format": STATE_FORMAT, "provider": self.model.provider, "model": self.model.model, "job_key": key,
                "batch_id": None, "description": description, "status": "cached", "submitted_at": time.time(),
                "requests": {}, "cached_ids": list(cached),
            })
            return ""
        prompts = self.model.judge_prompts(description, {i: it for i, it in items.items() if i not in cached})
        requests = {f"r{k}": p for k, p in enumerate(prompts)}
        self._charge_budget(prompts)
        async with self.model._client() as client:
            try:
                if self.model.provider == "anthropic":
                    batch_id, extra = await self._submit_anthropic(client, requests)
                else:
                    batch_id, extra = await self._submit_openai(client, requests)
            except Exception as err:
                mapped = self.model._map_error(err)
                if mapped is None:
                    raise
                raise mapped from err
        self._save_state({
            "format": STATE_FORMAT, "provider": self.model.provider, "model": self.model.model, "job_key": key,
            "batch_id": batch_id, "description": description, "status": "submitted", "submitted_at": time.time(),
            "requests": {cid: {"template": p.template, "item_ids": list(p.item_ids)} for cid, p in requests.items()},
            "cached_ids": list(cached), **extra,
        })
        return batch_id

    def _cached(self, description: str, items: Mapping[str, Item]) -> dict[str, Judgment]:
        """``{item_id: Judgment}`` the cache already holds for this job (empty without a cache):
        the hits of :meth:`CachedModel.lookup <genz_pyro.fm.cached.CachedModel.lookup>`, which
        keys them as an online run over the same model does."""
        if self.cache is None or not items:
            return {}
        return CachedModel(self.model, self.cache).lookup(description, items)[0]

    def _charge_budget(self, prompts: list[Prompt]) -> None:
        if self.model.budget is None:
            return
        ests = [self.model.estimate(p) for p in prompts]
        n_in = sum(e.input_tokens for e in ests)
        n_out = self.model.max_tokens * len(ests)
        cost = self.model.price().cost(n_in, n_out) * self.batch_discount
        res = self.model.budget.reserve(calls=len(ests), input_tokens=n_in, output_tokens=n_out, cost_usd=cost)
        self.model.budget.settle(res, Usage(len(ests), n_in, n_out, cost))

    async def _submit_anthropic(self, client: Any, requests: Mapping[str, Prompt]) -> tuple[str, dict[str, Any]]:
        reqs = [{"custom_id": cid, "params": self.model.request_params(p)} for cid, p in requests.items()]
        batch = await client.messages.batches.create(requests=reqs)
        return batch.id, {}

    async def _submit_openai(self, client: Any, requests: Mapping[str, Prompt]) -> tuple[str, dict[str, Any]]:
        lines = [
            json.dumps({"custom_id": cid, "method": "POST", "url": _OPENAI_ENDPOINT, "body": self.model.request_params(p)})
            for cid, p in requests.items()
        ]
        data = ("\n".join(lines) + "\n").encode()
        upload = await client.files.create(file=("genz-batch.jsonl", data), purpose="batch")
        batch = await client.batches.create(input_file_id=upload.id, endpoint=_OPENAI_ENDPOINT, completion_window="24h")
        return batch.id, {"input_file_id": upload.id}

    # ------------------------------------------------------------------ poll
    async def apoll(self) -> str:
        """The batch's status: ``"in_progress"``, ``"ended"`` or ``"failed"`` (persisted)."""
        state = self._require_state()
        if state["batch_id"] is None:  # everything came from the cache: no batch was submitted
            return "ended"
        async with self.model._client() as client:
            status, extra = await self._poll(client, state["batch_id"])
        state.update(status=status, **extra)
        self._save_state(state)
        return status

    async def _poll(self, client: Any, batch_id: str) -> tuple[str, dict[str, Any]]:
        try:
            if self.model.provider == "anthropic":
                b = await client.messages.batches.retrieve(batch_id)
                return ("ended" if b.processing_status == "ended" else "in_progress"), {}
            b = await client.batches.retrieve(batch_id)
        except Exception as err:
            mapped = self.model._map_error(err)
            if mapped is None:
                raise
            raise mapped from err
        extra = {"output_file_id": b.output_file_id} if b.output_file_id else {}
        if b.status == "completed":
            return "ended", extra
        if b.status in _OPENAI_FAILED:
            return ("ended" if b.output_file_id else "failed"), extra
        return "in_progress", extra

    def _require_state(self) -> dict[str, Any]:
        state = self.load_state()
        if state is None:
            raise ValueError(f"no batch state at {str(self.state_path)!r}; call submit() first")
        return state

    # ------------------------------------------------------------------ collect
    async def acollect(self, description: str, items: Mapping[str, Item]) -> dict[str, Judgment]:
        """Wait for the batch to end, read its answers, ask again online for the ids
        without a usable answer, and return ``{item_id: Judgment}`` for every item.

        Raises:
            ValueError: the state file belongs to another job.
            ProviderError: the batch failed, or ``max_wait`` passed.
        """
        state = self._require_state()
        if state["job_key"] != _job_key(self.model, description, items):
            raise ValueError(f"state_path {str(self.state_path)!r} holds another job; pass the submitted description and items")
        start = time.monotonic()
        cached_ids = list(state.get("cached_ids", []))
        cached = self._cached(description, {i: items[i] for i in cached_ids})
        async with self.model._client() as client:
            while state["batch_id"] is not None:
                status, extra = await self._poll(client, state["batch_id"])
                state.update(status=status, **extra)
                self._save_state(state)
                if status == "ended":
                    break
                if status == "failed":
                    raise ProviderError(f"{self.model.provider}: batch {state['batch_id']} failed; submit again with "
                                        "a new state_path or use the online path", provider=self.model.provider)
                if self.max_wait is not None and time.monotonic() - start > self.max_wait:
                    raise ProviderError(f"{self.model.provider}: batch {state['batch_id']} still running after "
                                        f"{self.max_wait:g} s; collect again later (the state file keeps its id)",
                                        provider=self.model.provider)
                await asyncio.sleep(self.poll_interval)
            bodies = await self._results(client, state) if state["batch_id"] is not None else {}
            records: list[CallRecord] = []
            answers, missing = self._read(state, bodies, records)
            self._write_cache(description, items, answers, records)
            answers.update(cached)
            missing.extend(i for i in cached_ids if i not in cached)  # left the cache since submission
            if missing:
                log.info("batch %s: %d ids without an answer, asking online", state["batch_id"], len(missing))
                groups = [missing[s : s + self.model.batch_size] for s in range(0, len(missing), self.model.batch_size)]
                if self.model.extraction_shape == 1:
                    groups = [[i] for i in missing]
                online: list[CallRecord] = []
                parts = await _gather_all([
                    self.model._judge_group(client, description, {i: items[i] for i in g},
                                            self.model.judge_prompts(description, {i: items[i] for i in g})[0],
                                            online.append)
                    for g in groups
                ])
                asked: dict[str, Judgment] = {}
                for part in parts:
                    asked.update(part)
                self._write_cache(description, items, asked, online)
                answers.update(asked)
        state["status"] = "collected"
        self._save_state(state)
        return {i: answers[i] for i in items}

    async def _results(self, client: Any, state: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
        """``{custom_id: response body}`` of the succeeded requests."""
        out: dict[str, Mapping[str, Any]] = {}
        try:
            if self.model.provider == "anthropic":
                async for entry in await client.messages.batches.results(state["batch_id"]):
                    if entry.result.type == "succeeded":
                        out[entry.custom_id] = entry.result.message.model_dump(mode="json")
                    else:
                        log.warning("batch request %s: %s", entry.custom_id, entry.result.type)
                return out
            if "output_file_id" not in state:
                return out
            content = await client.files.content(state["output_file_id"])
        except Exception as err:
            mapped = self.model._map_error(err)
            if mapped is None:
                raise
            raise mapped from err
        for line in content.text.splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            resp = rec.get("response") or {}
            if resp.get("status_code") == 200:
                out[rec["custom_id"]] = resp["body"]
            else:
                log.warning("batch request %s failed: %s", rec.get("custom_id"), rec.get("error"))
        return out

    def _write_cache(
        self, description: str, items: Mapping[str, Item], answers: Mapping[str, Judgment], records: list[CallRecord]
    ) -> None:
        """Store ``answers``, each with the raw answer and usage of the record that gave it."""
        if self.cache is None or not records:
            return
        cache = self.cache
        ctx, body = cache.context(model_identity(self.model), "judge", description)
        hash_of = dict(zip(items, cache.item_hashes(items)))
        calls = []
        for r in records:
            ids = [i for i in r.answered if i in answers]
            calls.append((r.raw, r.usage, [(hash_of[i], answers[i].value, answers[i].probability) for i in ids]))
        store_quietly(cache, lambda: cache.put_calls(ctx, calls, body=body))

    def _read(
        self, state: Mapping[str, Any], bodies: Mapping[str, Mapping[str, Any]], records: list[CallRecord]
    ) -> tuple[dict[str, Judgment], list[str]]:
        """The judgments in the batch answers and the ids without one; a
        :class:`CallRecord` per answer is appended to ``records``."""
        answers: dict[str, Judgment] = {}
        missing: list[str] = []
        for cid, req in state["requests"].items():
            ids = tuple(req["item_ids"])
            body = bodies.get(cid)
            if body is None:
                missing.extend(ids)
                continue
            comp = self.model.completion_from_body(body, _answer_prompt(req["template"], ids))
            u = self.model.price().cost(comp.input_tokens, comp.output_tokens) * self.batch_discount
            usage = Usage(1, comp.input_tokens, comp.output_tokens, u)
            self.model.usage.add(usage)
            try:
                if comp.truncated:
                    raise MalformedAnswerError("answer truncated at max_tokens")
                obj = comp.obj if comp.obj is not None else loads_strict(comp.text)
                parsed = parse_judgments(obj, req["template"], ids)
            except MalformedAnswerError as e:
                log.warning("batch request %s: malformed answer (%s); asking online", cid, e)
                records.append(CallRecord(req["template"], ids, comp.text, usage, used=False))
                missing.extend(ids)
                continue
            records.append(CallRecord(req["template"], ids, comp.text, usage, answered=tuple(parsed.answers)))
            for i, (value, prob) in parsed.answers.items():
                answers[i] = Judgment(i, value, prob)
            missing.extend(parsed.missing)
        return answers, missing

    # ------------------------------------------------------------------ all in one
    async def arun(self, description: str, items: Mapping[str, Item]) -> dict[str, Judgment]:
        """Submit (or resume the submitted batch of this job), wait, collect."""
        await self.asubmit(description, items)
        return await self.acollect(description, items)

    def submit(self, description: str, items: Mapping[str, Item]) -> str:
        """Sync version of :meth:`asubmit`."""
        return run_sync(self.asubmit(description, items))

    def poll(self) -> str:
        """Sync version of :meth:`apoll`."""
        return run_sync(self.apoll())

    def collect(self, description: str, items: Mapping[str, Item]) -> dict[str, Judgment]:
        """Sync version of :meth:`acollect`."""
        return run_sync(self.acollect(description, items))

    def run(self, description: str, items: Mapping[str, Item]) -> dict[str, Judgment]:
        """Sync version of :meth:`arun`."""
        return run_sync(self.arun(description, items))



def _answer_prompt(template: str, ids: tuple[str, ...]) -> Prompt:
    """A prompt stand-in carrying the tool name a batch answer was asked through."""
    return Prompt(template, "", "", "", ANSWER_NAMES[template], {}, ids)

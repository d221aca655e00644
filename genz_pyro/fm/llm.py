"""Shared machinery of the SDK backends (Anthropic, OpenAI and OpenAI-compatible servers).

:class:`LLMBackend` implements the :class:`~genz_pyro.fm.protocol.FoundationModel`
protocol on top of four provider hooks (build a request body, send it, read a
response body, translate an SDK error). It

* splits a judge job into calls: extraction shape 1 (one call per item) or shape 2
  (one call per batch of ``batch_size`` items, so at most ``ceil(N / B)`` calls per
  feature when every answer is well-formed);
* bounds concurrency with an :class:`asyncio.Semaphore` (``max_concurrency``);
* re-asks ids missing from an answer (``max_reasks`` rounds, then
  :class:`MalformedAnswerError` naming the items) and re-sends a call whose answer is
  not well-formed JSON of the right shape (``max_malformed_retries``);
* accounts usage and cost per call (``self.usage``; a price table per model,
  overridable with ``prices=``) and reports every call (its raw answer text and exact
  usage, a :class:`~genz_pyro.fm.protocol.CallRecord`) to the optional keyword-only
  ``on_call`` hook of ``ajudge`` / ``amine`` / ``apropose`` (``reports_calls = True``);
* asks an optional ``budget`` before every call (``budget.reserve(calls=1,
  input_tokens=..., output_tokens=..., cost_usd=...)``, which may raise
  :class:`BudgetExceededError`) and settles it after (``budget.settle(reservation,
  usage)``);
* plans a job without running it (:meth:`LLMBackend.plan_judge`, used by the dry-run).

Transport retries (429 honouring retry-after, 5xx, timeouts, dropped connections,
with exponential backoff and jitter) are the SDKs' own (``max_retries``, ``timeout``); reading
responses, capping a server's retry-after and translating SDK errors are in :mod:`genz_pyro.fm.transport`.
"""

from __future__ import annotations

import abc
import asyncio
import json
import logging
import math
import os
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping, Sequence, TypeVar

from .errors import FoundationModelError, MalformedAnswerError, ProviderError
from .parsing import ParsedJudgments, loads_strict, parse_judgments, parse_mined, parse_proposed
from .prompts import PROMPT_VERSIONS, Prompt, judge_batch_prompt, judge_single_prompt, mine_prompt, propose_prompt
from .protocol import CallRecord, FoundationModel, Item, Judgment, MinedFeature, Usage, run_sync

__all__ = [
    "Price",
    "DEFAULT_PRICES",
    "CallEstimate",
    "Completion",
    "LLMBackend",
    "load_image",
]

log = logging.getLogger(__name__)
T = TypeVar("T")
OnCall = Callable[[CallRecord], None]


@dataclass(frozen=True)
class Price:
    """US dollars per million input and output tokens."""

    input_per_mtok: float
    output_per_mtok: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1e6


#: List prices by model-name prefix (longest prefix wins). Override with ``prices=``.
DEFAULT_PRICES: dict[str, Price] = {
    "claude-opus-4": Price(15.0, 75.0),
    "claude-opus-4-5": Price(5.0, 25.0),
    "claude-sonnet-4": Price(3.0, 15.0),
    "claude-3-7-sonnet": Price(3.0, 15.0),
    "claude-haiku-4": Price(1.0, 5.0),
    "claude-3-5-haiku": Price(0.8, 4.0),
    "gpt-5": Price(1.25, 10.0),
    "gpt-5-mini": Price(0.25, 2.0),
    "gpt-5-nano": Price(0.05, 0.4),
    "gpt-4.1": Price(2.0, 8.0),
    "gpt-4.1-mini": Price(0.4, 1.6),
    "gpt-4o": Price(2.5, 10.0),
    "gpt-4o-mini": Price(0.15, 0.6),
    "gpt-4": Price(30.0, 60.0),
}


@dataclass(frozen=True)
class CallEstimate:
    """One planned provider call and its estimated size.

    ``output_tokens`` is the expected answer length (capped at ``max_tokens``).
    """

    template: str
    item_ids: tuple[str, ...]
    input_tokens: int
    output_tokens: int
    cost_usd: float


@dataclass
class Completion:
    """A provider answer: the parsed answer object when the provider returned one
    (tool use), else the raw ``text``; token counts as billed; ``truncated`` when the
    answer hit ``max_tokens``; ``yes_probability``: P(yes) read from the answer's token
    log-probabilities (one-item judge answers of a backend asked for soft judgments);
    ``refusal``: the model declined (the provider's refusal text or stop reason)."""

    obj: Any
    text: str
    input_tokens: int
    output_tokens: int
    truncated: bool = False
    yes_probability: float | None = None
    refusal: str | None = None  # why the model declined to answer (a refusal, a content filter)


_IMAGE_MAGIC = ((b"\x89PNG", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"))


def load_image(image: str | os.PathLike[str] | bytes) -> tuple[bytes, str]:
    """Read an image (path or bytes) and sniff its media type (png, jpeg, gif, webp)."""
    data = image if isinstance(image, bytes) else Path(image).read_bytes()
    for magic, media in _IMAGE_MAGIC:
        if data.startswith(magic):
            return data, media
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return data, "image/webp"
    raise ValueError("image: not a PNG, JPEG, GIF or WEBP image; convert it to one of these formats")


async def _gather_settled(aws: Sequence[Awaitable[T]]) -> list[T]:
    """``asyncio.gather`` that lets every call in flight finish (each is paid for, and its
    answer reaches ``on_call``, where a cache keeps it) before it raises the first failure."""
    results = await asyncio.gather(*aws, return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return list(results)  # type: ignore[arg-type]


async def _gather_all(aws: Sequence[Awaitable[T]]) -> list[T]:
    """``asyncio.gather`` that cancels the siblings when one fails."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


class LLMBackend(FoundationModel, abc.ABC):
    """A foundation model behind a provider SDK.

    Args:
        model: the provider's model name.
        api_key: the key; ``None`` reads the provider's environment variable. Never
            logged, never part of :meth:`cache_identity`.
        temperature: sampling temperature (``None`` leaves the provider default).
        max_tokens: answer length cap per call.
        extraction_shape: 1 (one item per call, yes/no + probability) or 2 (one
            feature over a batch of items answered with the ids for which it holds).
        batch_size: items per call in shape 2.
        with_probability: ask for P(yes) in shape 1.
        max_concurrency: calls in flight at once.
        max_retries: transport retries of the SDK (429, 408, 409, 5xx, timeouts, drops).
        max_retry_wait: longest wait, in seconds, before a retry when the server's
            ``retry-after`` asks for more (:func:`cap_retry_after`; logged).
        timeout: seconds per request attempt.
        max_reasks: rounds of asking again for ids missing from an answer.
        max_malformed_retries: re-sends of a call whose answer is malformed.
        prices: ``{model_prefix: Price or (in_per_mtok, out_per_mtok)}`` overriding :data:`DEFAULT_PRICES`.
        budget: an object with ``reserve(calls=, input_tokens=, output_tokens=, cost_usd=)`` and
            ``settle(reservation, usage)`` (see ``genz_pyro.fm.budget``), or ``None``.
        soft: soft judgments: each judgment's ``probability`` is P(yes) read from the token
            log-probabilities of the answer (:mod:`genz_pyro.fm.logprobs`), not a probability the
            model writes. Needs ``extraction_shape=1`` and a provider that returns logprobs
            (``supports_soft``).
    """

    provider: str = "abstract"
    reports_calls = True
    #: a :class:`~genz_pyro.fm.journal.CallJournal` recording every call before it is sent
    #: (``genz fit`` sets the run's), so calls in flight when a process dies are counted.
    journal: Any = None
    #: ``True`` for providers that return token log-probabilities (soft judgments).
    supports_soft: bool = False

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        temperature: float | None = 0.0,
        max_tokens: int = 1024,
        extraction_shape: int = 2,
        batch_size: int = 20,
        with_probability: bool = True,
        max_concurrency: int = 8,
        max_retries: int = 4,
        max_retry_wait: float = 60.0,
        timeout: float = 60.0,
        max_reasks: int = 2,
        max_malformed_retries: int = 2,
        prices: Mapping[str, Price | tuple[float, float]] | None = None,
        budget: Any = None,
        soft: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(model, str) or not model.strip():
            raise ValueError(f"model must be a non-empty model name, got {model!r}")
        if extraction_shape not in (1, 2):
            raise ValueError(f"extraction_shape must be 1 or 2, got {extraction_shape!r}")
        for arg, value, lo in (
            ("batch_size", batch_size, 1), ("max_tokens", max_tokens, 1), ("max_concurrency", max_concurrency, 1),
            ("max_retries", max_retries, 0), ("max_reasks", max_reasks, 0),
            ("max_malformed_retries", max_malformed_retries, 0),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < lo:
                raise ValueError(f"{arg} must be an int >= {lo}, got {value!r}")
        if temperature is not None and not 0 <= temperature <= 2:
            raise ValueError(f"temperature must be in [0, 2] or None, got {temperature!r}")
        if not timeout > 0:
            raise ValueError(f"timeout must be positive seconds, got {timeout!r}")
        if not (isinstance(max_retry_wait, (int, float)) and 0 <= max_retry_wait < math.inf):
            raise ValueError(f"max_retry_wait must be finite seconds >= 0, got {max_retry_wait!r}")
        self.max_retry_wait = float(max_retry_wait)
        self.with_probability = with_probability
        if not isinstance(soft, bool):
            raise ValueError(f"soft must be True or False, got {soft!r}")
        if soft and not self.supports_soft:
            raise ValueError(
                f"soft=True: the {self.provider} backend returns no token log-probabilities; pass soft=False"
            )
        if soft and extraction_shape != 1:
            raise ValueError(
                "soft=True reads P(yes) per item, so it needs one item per prompt: pass extraction_shape=1 "
                "(or soft=False to judge batches of items)"
            )
        self.soft = soft
        if soft:
            self.with_probability = False  # P(yes) comes from the logprobs, not from the answer text
        self.model = model
        self._api_key = api_key
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.extraction_shape = extraction_shape
        self.batch_size = batch_size
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.timeout = float(timeout)
        self.max_reasks = max_reasks
        self.max_malformed_retries = max_malformed_retries
        self.budget = budget
        table = dict(DEFAULT_PRICES)
        for k, v in (prices or {}).items():
            table[k] = v if isinstance(v, Price) else Price(*v)
        self._prices = table
        self._semaphores: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]" = (
            weakref.WeakKeyDictionary()
        )

    # ------------------------------------------------------------------ identity
    @property
    def name(self) -> str:  # type: ignore[override]
        return f"{self.provider}:{self.model}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, extraction_shape={self.extraction_shape})"

    def cache_identity(self) -> dict[str, Any]:
        """Everything that changes an answer: provider, model, prompt versions and
        decoding parameters. Never the API key."""
        return {
            "provider": self.provider,
            "model": self.model,
            "prompt_versions": dict(PROMPT_VERSIONS),
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "extraction_shape": self.extraction_shape,
            "batch_size": self.batch_size if self.extraction_shape == 2 else None,
            "with_probability": self.with_probability if self.extraction_shape == 1 else None,
            **({"soft": True} if self.soft else {}),
            **self._identity_extras(),
        }

    def price(self) -> Price:
        """The price of this model (longest matching prefix of the table; 0 if unknown)."""
        best = max((k for k in self._prices if self.model.startswith(k)), key=len, default=None)
        return self._prices[best] if best is not None else Price(0.0, 0.0)

    # ------------------------------------------------------------------ provider hooks
    def check_credentials(self) -> None:
        """Raise :class:`~genz_pyro.fm.errors.AuthenticationError` (naming the environment
        variable to set) when no credential is found; sends nothing (``genz fit`` checks
        this before it creates a run directory). The default finds nothing to check."""

    def _identity_extras(self) -> dict[str, Any]:
        """Provider-specific decoding parameters for :meth:`cache_identity`."""
        return {}

    @abc.abstractmethod
    def _client(self) -> Any:
        """A new SDK async client (an async context manager)."""

    @abc.abstractmethod
    def request_params(self, prompt: Prompt) -> dict[str, Any]:
        """The JSON request body of ``prompt`` (also used by the batch APIs)."""

    @abc.abstractmethod
    def image_params(self, data: bytes, media_type: str, prompt: str) -> dict[str, Any]:
        """The JSON request body describing one image."""

    @abc.abstractmethod
    async def _send(self, client: Any, params: Mapping[str, Any]) -> dict[str, Any]:
        """Send a request body with the SDK; return the response body as a dict."""

    @abc.abstractmethod
    def completion_from_body(self, body: Mapping[str, Any], prompt: Prompt | None) -> Completion:
        """Read a response body (online or from a batch result)."""

    @abc.abstractmethod
    def _map_error(self, err: BaseException) -> FoundationModelError | None:
        """The library error for an SDK error, or ``None`` if ``err`` is not an SDK error."""

    # ------------------------------------------------------------------ planning
    def judge_prompts(self, description: str, items: Mapping[str, Item]) -> list[Prompt]:
        """The first-round prompts of a judge job (shape 1: one per item; shape 2: one per batch)."""
        if not isinstance(items, Mapping):
            raise ValueError(f"items must be a mapping {{item_id: item}}, got {type(items).__name__}; "
                             "e.g. {str(i): x for i, x in enumerate(xs)}")
        ids = list(items.keys())
        if self.extraction_shape == 1:
            return [judge_single_prompt(description, i, items[i], with_probability=self.with_probability) for i in ids]
        b = self.batch_size
        return [judge_batch_prompt(description, {i: items[i] for i in ids[s : s + b]}) for s in range(0, len(ids), b)]

    def estimate(self, prompt: Prompt) -> CallEstimate:
        """Token and cost estimate of one call (about 4 characters a token)."""
        chars = len(prompt.system) + len(prompt.user) + len(json.dumps(prompt.schema))
        n_in = math.ceil(chars / 4) + 16
        if prompt.template == "judge_single":
            n_out = 24
        elif prompt.template == "judge_batch":
            n_out = 16 + sum(math.ceil(len(i) / 3) + 2 for i in prompt.item_ids)
        elif prompt.template == "propose":
            n_out = 200
        else:
            n_out = 150
        n_out = min(n_out, self.max_tokens)
        return CallEstimate(prompt.template, prompt.item_ids, n_in, n_out, self.price().cost(n_in, n_out))

    def plan_judge(self, description: str, items: Mapping[str, Item]) -> list[CallEstimate]:
        """The calls a judge job makes when every answer is well-formed, with estimates."""
        return [self.estimate(p) for p in self.judge_prompts(description, items)]

    # ------------------------------------------------------------------ one call
    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        sem = self._semaphores.get(loop)
        if sem is None:
            sem = self._semaphores[loop] = asyncio.Semaphore(self.max_concurrency)
        return sem

    async def _call(
        self, client: Any, params: Mapping[str, Any], est: CallEstimate, prompt: Prompt | None
    ) -> tuple[Completion, Usage]:
        """One provider call: budget reservation, bounded concurrency, usage, error mapping.

        Returns the completion and this call's usage (also added to ``self.usage``)."""
        async with self._semaphore():
            reservation = None
            if self.budget is not None:
                # reserve the worst case: a third more input than estimated and the full max_tokens
                n_in = math.ceil(est.input_tokens * 4 / 3)
                reservation = self.budget.reserve(
                    calls=1, input_tokens=n_in, output_tokens=self.max_tokens,
                    cost_usd=self.price().cost(n_in, self.max_tokens),
                )
            journal = self.journal
            token = None if journal is None else journal.begin(est.template, est.input_tokens, est.output_tokens,
                                                                est.cost_usd)
            try:
                body = await self._send(client, params)
            except BaseException as err:  # also cancellation: never leave a reservation outstanding
                if self.budget is not None:
                    self.budget.settle(reservation, Usage(calls=1))
                if journal is not None and isinstance(err, Exception):
                    journal.end(token, None)  # an error response: not billed (a cancelled call stays "sent")
                mapped = self._map_error(err) if isinstance(err, Exception) else None
                if mapped is None:
                    raise
                raise mapped from err
            comp = self.completion_from_body(body, prompt)
            usage = Usage(1, comp.input_tokens, comp.output_tokens, self.price().cost(comp.input_tokens, comp.output_tokens))
            if journal is not None:
                journal.end(token, usage)
            self.usage.add(usage)
            if self.budget is not None:
                self.budget.settle(reservation, usage)
            return comp, usage

    async def _ask(
        self,
        client: Any,
        prompt: Prompt,
        parse: Callable[[Any], T],
        on_call: OnCall | None = None,
        answered: Callable[[T], Sequence[str] | Mapping[str, Any]] = lambda result: (),
        refine: Callable[[T, Completion], T] | None = None,
    ) -> T:
        """Send ``prompt`` and parse its answer, re-sending a malformed answer up to
        ``max_malformed_retries`` times. Every call is reported to ``on_call`` (a malformed
        one with ``used=False``; the parsed one with ``answered(result)`` as its ids, and when
        that is a mapping ``{id: (value, probability)}`` as its judgments too).
        ``refine(result, completion)`` may add what the completion carries besides its text
        (the soft P(yes))."""
        params = self.request_params(prompt)
        est = self.estimate(prompt)
        last: MalformedAnswerError | None = None
        comp: Completion | None = None
        for attempt in range(1 + self.max_malformed_retries):
            try:
                comp, usage = await self._call(client, params, est, prompt)
            except MalformedAnswerError as err:  # a body that is not the API's JSON (no answer, not billed)
                last, comp = err, None
                log.warning("%s: %s (attempt %d)", self.name, err, attempt + 1)
                continue
            try:
                if comp.truncated:
                    raise MalformedAnswerError(
                        f"answer truncated at max_tokens={self.max_tokens}; raise max_tokens or lower batch_size"
                    )
                if comp.refusal is not None:
                    raise MalformedAnswerError(f"the model declined to answer ({comp.refusal[:200]}); reword the "
                                               "feature, or use another model")
                if comp.obj is None and not comp.text.strip():
                    raise MalformedAnswerError("the answer is empty")
                obj = comp.obj if comp.obj is not None else loads_strict(comp.text)
                result = parse(obj)
                if refine is not None:
                    result = refine(result, comp)
            except MalformedAnswerError as err:
                if on_call is not None:
                    on_call(CallRecord(prompt.template, prompt.item_ids, comp.text, usage, used=False))
                last = err
                log.warning("%s: malformed %s answer (attempt %d): %s", self.name, prompt.template, attempt + 1, err)
                continue
            if on_call is not None:
                ans = answered(result)
                on_call(CallRecord(prompt.template, prompt.item_ids, comp.text, usage, answered=tuple(ans),
                                   judgments=dict(ans) if isinstance(ans, Mapping) else {}))
            return result
        if comp is None:  # the last attempt got no API answer at all
            raise ProviderError(
                f"{self.name}: no answer in the API's format after {1 + self.max_malformed_retries} attempts "
                f"({last})", provider=self.provider) from last
        raise MalformedAnswerError(
            f"{self.name}: the {prompt.template} answer stayed malformed after "
            f"{1 + self.max_malformed_retries} attempts ({last}); raise max_malformed_retries, "
            "lower batch_size, or use a model that supports structured output",
            item_ids=prompt.item_ids,
            raw="" if comp is None else comp.text,
            provider=self.provider,
        ) from last

    # ------------------------------------------------------------------ judge
    async def _judge_group(
        self, client: Any, description: str, items: Mapping[str, Item], first: Prompt, on_call: OnCall | None = None
    ) -> dict[str, Judgment]:
        answers: dict[str, Judgment] = {}
        prompt = first
        pending: dict[str, Item] = dict(items)
        for round_ in range(1 + self.max_reasks):
            if round_ > 0:
                prompt = (
                    judge_batch_prompt(description, pending)
                    if self.extraction_shape == 2
                    else judge_single_prompt(description, *next(iter(pending.items())), with_probability=self.with_probability)
                )
            parsed = await self._ask(
                client, prompt, lambda obj, p=prompt: parse_judgments(obj, p.template, p.item_ids), on_call,
                lambda result: result.answers, self._soft_refine if self.soft else None,
            )
            if parsed.unknown:
                log.warning("%s: answer named ids that were not asked (ignored): %s", self.name, list(parsed.unknown))
            if parsed.conflicting:
                log.warning("%s: ids answered both yes and no (asked again): %s", self.name, list(parsed.conflicting))
            for i, (value, prob) in parsed.answers.items():
                answers[i] = Judgment(i, value, prob)
            pending = {i: items[i] for i in parsed.missing}
            if not pending:
                return answers
            log.info("%s: %d ids missing from the answer, asking again", self.name, len(pending))
        raise MalformedAnswerError(
            f"{self.name}: no answer for items {sorted(pending)} after {1 + self.max_reasks} rounds; "
            "raise max_reasks or lower batch_size",
            item_ids=tuple(pending),
            provider=self.provider,
        )

    def _soft_refine(self, parsed: ParsedJudgments, comp: Completion) -> ParsedJudgments:
        """The parsed one-item answer with its probability replaced by P(yes) from the logprobs
        (``None``, with a warning, when the answer carries none: only the hard answer is used)."""
        if len(parsed.answers) != 1:
            return parsed
        (i, (value, _)), = parsed.answers.items()
        if comp.yes_probability is None:
            log.warning("%s: soft judgment asked but the answer for item %r has no yes/no log-probabilities; "
                        "its hard answer is used", self.name, i)
        return ParsedJudgments({i: (value, comp.yes_probability)}, parsed.missing, parsed.unknown,
                               parsed.conflicting)

    async def ajudge(
        self, description: str, items: Mapping[str, Item], *, on_call: OnCall | None = None
    ) -> dict[str, Judgment]:
        """See :meth:`FoundationModel.ajudge`; ``on_call`` receives a :class:`CallRecord` per provider call."""
        prompts = self.judge_prompts(description, items)
        if not prompts:
            return {}
        async with self._client() as client:
            parts = await _gather_settled(
                [self._judge_group(client, description, {i: items[i] for i in p.item_ids}, p, on_call) for p in prompts]
            )
        merged: dict[str, Judgment] = {}
        for part in parts:
            merged.update(part)
        return {i: merged[i] for i in items}

    # ------------------------------------------------------------------ mine / propose
    async def amine(
        self,
        positives: Mapping[str, Item],
        negatives: Mapping[str, Item],
        *,
        avoid: tuple[str, ...] = (),
        on_call: OnCall | None = None,
    ) -> MinedFeature:
        """See :meth:`FoundationModel.amine`; ``on_call`` receives a :class:`CallRecord` per provider call."""
        prompt = mine_prompt(positives, negatives, avoid=tuple(avoid))
        async with self._client() as client:
            return await self._ask(client, prompt, parse_mined, on_call)

    async def apropose(
        self, task: str, examples: Mapping[str, Item], n: int, *, on_call: OnCall | None = None
    ) -> list[str]:
        """See :meth:`FoundationModel.apropose`; ``on_call`` receives a :class:`CallRecord` per provider call."""
        prompt = propose_prompt(task, examples, n)
        async with self._client() as client:
            return await self._ask(client, prompt, lambda obj: parse_proposed(obj, n), on_call)

    # ------------------------------------------------------------------ images
    async def adescribe_image(
        self, image: str | os.PathLike[str] | bytes, prompt: str = "Describe the listing image in detail."
    ) -> str:
        """Describe one image (path or bytes; png, jpeg, gif or webp) in text."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("prompt must be a non-empty instruction, e.g. 'Describe the listing image in detail.'")
        data, media = load_image(image)
        params = self.image_params(data, media, prompt)
        n_in = 1600 + math.ceil(len(prompt) / 4)  # an image is ~1-2k tokens on both providers
        est = CallEstimate("describe_image", (), n_in, self.max_tokens, self.price().cost(n_in, self.max_tokens))
        async with self._client() as client:
            comp, _ = await self._call(client, params, est, None)
        if not comp.text.strip():
            raise MalformedAnswerError(f"{self.name}: empty image description", provider=self.provider)
        return comp.text

    def describe_image(
        self, image: str | os.PathLike[str] | bytes, prompt: str = "Describe the listing image in detail."
    ) -> str:
        """Sync version of :meth:`adescribe_image`."""
        return run_sync(self.adescribe_image(image, prompt))

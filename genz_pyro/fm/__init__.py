"""genz_pyro.fm: foundation models for GenZ (judge / mine / propose).

Light modules are re-exported here; no provider SDK is imported until a backend
makes its first client (``pip install 'genz-pyro[anthropic]'`` / ``'genz-pyro[openai]'``), and
``xllamacpp`` not until a local GGUF model is loaded (``'genz-pyro[local]'``).
The offline model lives in :mod:`genz_pyro.fm.offline`; ``make_model("offline")`` builds it.
"""

from genz_pyro.fm.anthropic_backend import AnthropicModel
from genz_pyro.fm.batch import BatchJob
from genz_pyro.fm.budget import Budget, Reservation
from genz_pyro.fm.cache import CACHE_ENV, JudgmentCache, StoredCall
from genz_pyro.fm.cached import CachedModel
from genz_pyro.fm.dryrun import JobEstimate, estimate_job
from genz_pyro.fm.errors import (
    AuthenticationError,
    BudgetExceededError,
    ContextTooLongError,
    FoundationModelError,
    MalformedAnswerError,
    MissingDependencyError,
    ProviderError,
    RateLimitError,
)
from genz_pyro.fm.gguf_backend import GGUFModel
from genz_pyro.fm.llm import CallEstimate, LLMBackend, Price
from genz_pyro.fm.mixed import MixedModel
from genz_pyro.fm.openai_backend import OpenAIModel
from genz_pyro.fm.prompts import PROMPT_VERSIONS
from genz_pyro.fm.protocol import (
    CallRecord,
    FoundationModel,
    Item,
    Judgment,
    MinedFeature,
    Usage,
    render_item,
    run_sync,
)
from genz_pyro.fm.registry import make_model

__all__ = [
    "AnthropicModel",
    "AuthenticationError",
    "BatchJob",
    "Budget",
    "BudgetExceededError",
    "CACHE_ENV",
    "CachedModel",
    "CallEstimate",
    "CallRecord",
    "ContextTooLongError",
    "FoundationModel",
    "FoundationModelError",
    "GGUFModel",
    "Item",
    "JobEstimate",
    "Judgment",
    "JudgmentCache",
    "LLMBackend",
    "MalformedAnswerError",
    "MinedFeature",
    "MissingDependencyError",
    "MixedModel",
    "OpenAIModel",
    "PROMPT_VERSIONS",
    "Price",
    "ProviderError",
    "RateLimitError",
    "Reservation",
    "StoredCall",
    "Usage",
    "estimate_job",
    "make_model",
    "render_item",
    "run_sync",
]

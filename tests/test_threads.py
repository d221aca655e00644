"""The package's OpenMP wait policy: set on import when torch is not loaded yet, never
overriding the user's choice (genz_pyro/__init__.py)."""

from __future__ import annotations

import os
import subprocess
import sys


def _policy(code: str, env_value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if env_value is not None:
        env["OMP_WAIT_POLICY"] = env_value
    out = subprocess.run([sys.executable, "-c", code + "; import os; print(os.environ.get('OMP_WAIT_POLICY'))"],
                         capture_output=True, text=True, env=env, check=True)
    return out.stdout.strip().splitlines()[-1]


def test_import_sets_passive_before_torch_loads() -> None:
    assert _policy("import genz_pyro", None) == "PASSIVE"


def test_the_users_setting_is_kept() -> None:
    assert _policy("import genz_pyro", "ACTIVE") == "ACTIVE"


def test_nothing_is_set_once_torch_is_loaded() -> None:
    assert _policy("import torch, genz_pyro", None) == "None"

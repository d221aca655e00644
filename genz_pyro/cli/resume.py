"""``genz fit --resume`` with flags: which settings may change when a run is continued.

A run continues with the settings saved in its ``cli.json``. A setting given again on the
command line with the same value is fine; with another value it must be declared in
:data:`RESUME_CHANGEABLE`, else the resume is refused with a message that lists every
differing setting. A setting added to :data:`~genz_pyro.cli.settings.SETTING_KEYS` later
is therefore refused on resume until it is declared here: the default is safe.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Mapping

from genz_pyro.cli.common import CliError
from genz_pyro.cli.settings import SETTING_KEYS, fit_settings

__all__ = ["RESUME_CHANGEABLE", "resume_settings", "read_saved_settings", "flag_name"]

#: Settings that may take a new value on ``--resume`` (the value: why that is safe).
RESUME_CHANGEABLE: dict[str, str] = {
    "cycles": "continues the run's plan up to the new number of cycles (a finished run is extended)",
    "data_dir": "only where the bundled data lives; a run refuses data that differ from its own (fingerprint)",
    "refit_train_val": "runs after discovery, on its result",
    "cold_start": "runs after discovery, on its result",
}

_FLAG_NAMES = {"cold_start": "--no-cold-start"}


def flag_name(key: str) -> str:
    """The ``genz fit`` flag of a settings key (``n_add`` -> ``--n-add``)."""
    return _FLAG_NAMES.get(key, "--" + key.replace("_", "-"))


def _show(key: str, value: Any) -> str:
    if key == "cold_start":
        return "given" if value is False else "not given"
    if isinstance(value, bool):
        return "given" if value else "not given"
    return "(not set)" if value is None else str(value)


def read_saved_settings(run_dir: Path) -> dict[str, Any]:
    """The settings of the run in ``run_dir`` (its ``cli.json``).

    Raises:
        CliError: no run there, or an unreadable ``cli.json``.
    """
    p = run_dir / "cli.json"
    if not p.exists():
        raise CliError(f"--resume: {run_dir} holds no `genz fit` run (no cli.json); start one without --resume")
    try:
        saved = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CliError(f"--resume: cannot read {p} ({exc}); restore it from a backup or start a new --run-dir") from None
    if not isinstance(saved, dict):
        raise CliError(f"--resume: {p} is not a settings object; restore it or start a new --run-dir")
    return saved


def resume_settings(args: argparse.Namespace, saved: Mapping[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """The settings a resumed run continues with, and the keys that changed.

    ``args.given`` holds the settings given on the command line (see
    :func:`~genz_pyro.cli.parser.given_settings`); they are checked like a new run's and
    compared with ``saved``.

    Raises:
        CliError: a given setting differs from the run's and may not change on resume (the
            message lists them all), or a given value is out of range.
    """
    given = set(getattr(args, "given", set())) & set(SETTING_KEYS)
    merged = argparse.Namespace(**{k: saved.get(k) for k in SETTING_KEYS})
    for k in given:
        setattr(merged, k, getattr(args, k))
    if merged.algorithm is not None:
        merged.algorithm = str(merged.algorithm)
    s = fit_settings(merged)
    changed = {k for k in SETTING_KEYS if s.get(k) != saved.get(k) and k in given}
    refused = sorted(k for k in changed if k not in RESUME_CHANGEABLE)
    if refused:
        listing = "; ".join(f"{flag_name(k)} {_show(k, s.get(k))} (the run: {_show(k, saved.get(k))})"
                            for k in refused)
        may = ", ".join(flag_name(k) for k in RESUME_CHANGEABLE)
        raise CliError(f"--resume: these settings differ from the run's own (cli.json) and cannot change when it "
                       f"continues: {listing}. Drop them to continue the run as it was, or start a new run with "
                       f"another --run-dir (may change on resume: {may})")
    if "cycles" in changed and s.get("algorithm") == "zero-shot":
        raise CliError("--cycles: the run is a zero-shot run, which has no cycles; drop --cycles")
    if "cycles" in changed and s.get("algorithm") == "auto":
        raise CliError("--cycles: the run chose its steps itself (--algorithm auto, --cycles its cap); a resume "
                       "continues it to its own cap: drop --cycles, or extend a run of --algorithm 1-4")
    return {**saved, **{k: s[k] for k in changed}}, changed

"""The ``genz`` command (a module per subcommand: ``demo``, ``fit``, ``report``,
``describe_images``; ``parser`` builds the arguments, ``common`` holds what they share).

Subcommands::

    genz demo                      the binary experiment, offline, in seconds
    genz fit --dataset houses      discovery on a bundled dataset (houses, movies, binary, planted)
    genz fit --items-file F.csv --item-column text --target-column y
                                   discovery on your own CSV/JSONL
    genz fit --run-dir R --resume  continue a killed run (no finished step or paid call repeated)
    genz report RUN_DIR            write the figures of a run
    genz describe-images --images DIR --model anthropic:MODEL --out descriptions.jsonl
                                   describe listing photos with a vision model (cached, resumable)

A run directory holds ``cli.json`` (the command's settings, never an API key),
the discovery files (``config.json``, ``history.jsonl``, ``params.pt``,
``features.json``, ``predictions.csv``, ``cache.sqlite``; see
:mod:`genz_pyro.discovery.persist`), ``baselines.json``, ``cold_start.json``
(movies) and ``summary.json``. API keys come from the environment
(``ANTHROPIC_API_KEY``, ``OPENAI_API_KEY``) and are never written anywhere.
"""


from __future__ import annotations

import sys
from typing import Sequence

from genz_pyro.cli.calllog import CallLog
from genz_pyro.cli.common import CliError, build_model, set_threads
from genz_pyro.cli.data import DEFAULT_METRICS, load_dataset, select_item_fields
from genz_pyro.cli.describe_images import describe_images
from genz_pyro.cli.parser import build_parser, parse_args
from genz_pyro.cli.settings import VALIDATED_SETTINGS

__all__ = ["main", "build_parser", "load_dataset", "select_item_fields", "CallLog", "describe_images", "DEFAULT_METRICS",
           "VALIDATED_SETTINGS", "parse_args", "set_threads", "build_model", "CliError"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``genz``; returns the exit status (0 ok, 1 a file could not be written or read:
    a full disk, permissions; 2 user error, 3 provider error, missing key or budget cap, 130
    interrupted)."""
    from genz_pyro.fm.errors import AuthenticationError, FoundationModelError

    try:
        args = parse_args(argv)
        if getattr(args, "threads", None) is not None:
            set_threads(args.threads)
    except CliError as exc:
        print(f"genz: error: {exc}", file=sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"genz: error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"genz: error: {exc}", file=sys.stderr)
        return 2
    except AuthenticationError as exc:
        print(f"genz: foundation-model error: {exc}", file=sys.stderr)
        return 3
    except FoundationModelError as exc:
        print(f"genz: foundation-model error: {exc}\n"
              "answers received so far are cached: rerun the same command (genz fit: add --resume) to continue",
              file=sys.stderr)
        return 3
    except OSError as exc:  # a full disk, a read-only or vanished run directory
        from genz_pyro.discovery.lock import describe_os_error

        hint = ""
        if getattr(args, "command", None) == "fit" and getattr(args, "run_dir", None):
            hint = (f"; the run stopped, and what it wrote is intact (every recorded step, every cached answer): fix "
                    f"the cause, then continue with `genz fit --run-dir {args.run_dir} --resume`")
        print(f"genz: error: cannot write or read a file ({describe_os_error(exc)}){hint}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("genz: interrupted; continue with `genz fit --run-dir DIR --resume`", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""``genz report RUN_DIR``: the figures of a run."""

from __future__ import annotations

import argparse

from genz_pyro.cli.common import CliError

__all__ = ["cmd_report"]


def cmd_report(args: argparse.Namespace) -> int:
    """``genz report RUN_DIR``: write the figures; print their paths."""
    from genz_pyro.report import write_report

    try:
        paths = write_report(args.run_dir, args.out)
    except ValueError as exc:
        raise CliError(f"RUN_DIR: {exc}") from None
    except OSError as exc:  # a read-only run directory: the figures need a writable --out
        from genz_pyro.discovery.lock import describe_os_error

        out = args.out or f"{args.run_dir}/report"
        raise CliError(f"--out: cannot write the figures to {out} ({describe_os_error(exc)}); pass --out DIR, "
                       "a writable folder (the run directory itself is only read)") from None
    for p in paths:
        print(p)
    return 0

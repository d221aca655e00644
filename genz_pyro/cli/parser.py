"""The argument parser of ``genz``."""

from __future__ import annotations

import argparse
from typing import Sequence

from genz_pyro.cli.common import THREADS_HELP, CliError
from genz_pyro.cli.demo import cmd_demo
from genz_pyro.cli.describe_images import IMAGE_PROMPT, cmd_describe_images
from genz_pyro.cli.fit import cmd_fit
from genz_pyro.cli.report import cmd_report
from genz_pyro.cli.settings import VALIDATED_SETTINGS

__all__ = ["build_parser", "parse_args"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``genz``."""
    p = argparse.ArgumentParser(prog="genz", description="GenZ: a foundation model as a generator of latent "
                                "features in a Pyro statistical model.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("demo", help="the binary experiment, offline, in seconds")
    d.add_argument("--bits", type=int, default=9, help="binary digits: 2**bits strings (default 9: 512)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--run-dir", default=None, help="optionally keep the run's files here")
    d.add_argument("--no-progress", action="store_true", help="no progress bar")
    d.add_argument("--threads", type=int, default=1, help=THREADS_HELP)
    d.set_defaults(func=cmd_demo)

    f = sub.add_parser("fit", help="feature discovery on a bundled dataset or your CSV/JSONL")
    p.set_defaults(fit_parser=f)
    g = f.add_argument_group("data")
    g.add_argument("--dataset", choices=("houses", "movies", "binary", "planted"), default=None)
    g.add_argument("--data-dir", default=None,
                   help="folder of the bundled data (default $GENZ_DATA or ../shared/data)")
    g.add_argument("--items-file", default=None, help="your CSV (header row) or JSONL file")
    g.add_argument("--item-column", default=None, help="column(s) shown to the model, comma-separated")
    g.add_argument("--target-column", default=None, help="numeric target column(s), comma-separated")
    g.add_argument("--covariate-column", default=None, help="numeric covariate column(s), comma-separated")
    g.add_argument("--id-column", default=None, help="column of unique item ids (default row-<n>)")
    g.add_argument("--descriptions", default=None, help="houses: photo descriptions (genz describe-images)")
    g.add_argument("--item-fields", default=None,
                   help="record fields shown to the model, comma-separated (default all); e.g. leave out "
                        "fields the covariates already carry (houses: zipcode)")
    g.add_argument("--bits", type=int, default=None, help="binary: digits (default 9)")
    g.add_argument("--n-items", type=int, default=None, help="planted: records (default 400)")
    g.add_argument("--planted-features", type=int, default=None, help="planted: hidden features (default 4)")
    g = f.add_argument_group("model")
    g.add_argument("--model", default="offline",
                   help="offline | anthropic:MODEL | openai:MODEL | gguf:PATH (a local GGUF file; gguf: alone is "
                        "the bundled small model) (default offline)")
    g.add_argument("--base-url", default=None, help="server of an OpenAI-compatible or proxy endpoint")
    g.add_argument("--judge-model", default=None,
                   help="judge every item with this model (e.g. gguf:PATH, a local GGUF file) and mine the "
                        "features with --model (default: --model does both)")
    g.add_argument("--soft", dest="soft", action="store_true", default=None,
                   help="judgments as P(yes) from the judge's logprobs (default where available: gguf:)")
    g.add_argument("--no-soft", dest="soft", action="store_false", help="judgments as yes/no only")
    g.add_argument("--link", choices=("linear", "mlp"), default="linear")
    g.add_argument("--engine", default=None, help="inference engine (default: the link's default)")
    g.add_argument("--max-sweeps", type=int, default=None, help="inference sweeps per fit")
    g.add_argument("--eps", type=float, default=None,
                   help="hold every feature's flip probability at this value (e.g. 0.001: trust the judgments) "
                        "instead of learning it (default: learned, as in the paper)")
    g.add_argument("--ridge", type=float, default=None,
                   help="linear link: Gaussian prior (ridge penalty) on the feature weights (default 0)")
    g.add_argument("--metric", default=None, help="r2 | median_absolute_error | mean_cosine_similarity | "
                   "median_relative_error (default: the dataset's)")
    g = f.add_argument_group("discovery")
    g.add_argument("--algorithm", choices=("1", "2", "3", "4", "zero-shot"), default="4")
    g.add_argument("--cycles", type=int, default=3, help="runs of Algorithm 1/2/3, or cycles of Algorithm 4")
    g.add_argument("--n-add", type=int, default=5, help="Algorithm 4: additions per cycle")
    g.add_argument("--n-remove", type=int, default=2, help="Algorithm 4: removals per cycle")
    g.add_argument("--zero-shot-n", type=int, default=40, help="--algorithm zero-shot: proposals")
    g.add_argument("--zero-shot-baseline", type=int, default=0,
                   help="also run the zero-shot baseline with this many proposals (run-dir/zero-shot)")
    g.add_argument("--min-activity", type=float, default=None,
                   help="discard a feature judged positive for fewer than this share of the training items "
                        "(default 0.02, the paper's 2%%; the upper limit stays 0.98)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--validated", action="store_true",
                   help="houses/movies: start from the settings chosen on the validation split (README results: "
                        "houses --algorithm 1 --cycles 25 --item-fields zipcode --eps 0.01 --ridge 1 "
                        "--min-activity 0.01 --refit-train-val; movies --algorithm 1 --cycles 80 --eps 0.001 "
                        "--ridge 10 --refit-train-val); flags you give still win")
    g.add_argument("--refit-train-val", action="store_true",
                   help="after discovery, also refit the features' parameters on train + validation and score "
                        "test (the baselines' protocol; summary.json 'refit_train_val')")
    g = f.add_argument_group("run")
    g.add_argument("--run-dir", default=None, help="run directory (default runs/<dataset>-seed<seed>)")
    g.add_argument("--resume", action="store_true", help="continue the run in --run-dir (settings from its cli.json)")
    g.add_argument("--budget-calls", type=int, default=None, help="cap on provider calls")
    g.add_argument("--budget-usd", type=float, default=None, help="cap on provider cost in US dollars")
    g.add_argument("--dry-run", action="store_true", help="print the planned calls and cost; send nothing")
    g.add_argument("--call-log", default=None, help="append one JSON line per foundation-model call to this file")
    g.add_argument("--no-cold-start", dest="cold_start", action="store_false",
                   help="movies: skip the cold-start curve")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")
    g.add_argument("--threads", type=int, default=1, help=THREADS_HELP)
    f.set_defaults(func=cmd_fit)

    r = sub.add_parser("report", help="write the figures of a run directory")
    r.add_argument("run_dir", metavar="RUN_DIR")
    r.add_argument("--out", default=None, help="output folder (default RUN_DIR/report)")
    r.set_defaults(func=cmd_report)

    i = sub.add_parser("describe-images", help="describe listing photos with a vision model (cached, resumable)")
    i.add_argument("--images", required=True, help="folder of photos")
    i.add_argument("--model", required=True, help="anthropic:MODEL | openai:MODEL")
    i.add_argument("--base-url", default=None)
    i.add_argument("--out", required=True, help="JSONL file of descriptions (appended; resumable)")
    i.add_argument("--cache", default=None, help="cache file (default OUT.cache.sqlite)")
    i.add_argument("--prompt", default=IMAGE_PROMPT)
    i.add_argument("--budget-calls", type=int, default=None)
    i.add_argument("--budget-usd", type=float, default=None)
    i.add_argument("--no-progress", action="store_true")
    i.set_defaults(func=cmd_describe_images)
    return p


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse ``genz`` arguments; ``fit --validated`` fills in :data:`VALIDATED_SETTINGS` of the
    dataset as defaults, so flags given explicitly still win.

    Raises:
        CliError: ``--validated`` for a dataset without validated settings.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "validated", False):
        if args.dataset not in VALIDATED_SETTINGS:
            raise CliError(f"--validated: settings exist for --dataset {' or '.join(VALIDATED_SETTINGS)}, not "
                           f"{args.dataset or args.items_file!r}; drop --validated and give the flags")
        args.fit_parser.set_defaults(**VALIDATED_SETTINGS[args.dataset])
        args = parser.parse_args(argv)
    return args

"""The argument parser of ``genz``."""

from __future__ import annotations

import argparse
from typing import Sequence

from genz_pyro.cli.common import THREADS_HELP, CliError
from genz_pyro.cli.demo import cmd_demo
from genz_pyro.cli.describe_images import IMAGE_PROMPT, cmd_describe_images
from genz_pyro.cli.fit import cmd_fit
from genz_pyro.cli.report import cmd_report
from genz_pyro.cli.settings import SETTING_KEYS, VALIDATED_SETTINGS

__all__ = ["build_parser", "parse_args", "given_settings"]


def _eps_arg(text: str) -> str | float:
    """``--eps``: 'auto', 'learned' or a number (its range is checked with the other settings)."""
    t = text.strip().lower()
    if t in ("auto", "learned"):
        return t
    try:
        return float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto, learned or a number, got {text!r}") from None


def _ridge_arg(text: str) -> str | float:
    """``--ridge``: 'auto' or a number."""
    t = text.strip().lower()
    if t == "auto":
        return t
    try:
        return float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto or a number, got {text!r}") from None


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
    g.add_argument("--test-fraction", type=float, default=None,
                   help="your file: share of the rows held out for test (default 0.2); the split is random, "
                        "seeded by --seed")
    g.add_argument("--val-fraction", type=float, default=None,
                   help="your file: share of the remaining rows held out for validation, on which the defaults "
                        "choose (default 0.2: 16%% of all rows; train gets 64%%)")
    g.add_argument("--split-column", default=None,
                   help="your file: a column saying train, val or test for each row (instead of a random split)")
    g.add_argument("--encoding", default=None,
                   help="text encoding of --items-file (default utf-8, with or without Excel's byte-order mark; "
                        "e.g. latin-1, cp1252)")
    g.add_argument("--descriptions", default=None, help="houses: photo descriptions (genz describe-images)")
    g.add_argument("--item-fields", default=None,
                   help="record fields shown to the model, comma-separated, or 'all' (default: all but the fields "
                        "the covariates carry; houses: zipcode and any photo descriptions, not area, bedrooms, "
                        "bathrooms)")
    g.add_argument("--bits", type=int, default=None, help="binary: digits (default 9)")
    g.add_argument("--n-items", type=int, default=None, help="planted: records (default 400)")
    g.add_argument("--planted-features", type=int, default=None, help="planted: hidden features (default 4)")
    g = f.add_argument_group("model")
    g.add_argument("--model", default="offline",
                   help="offline | anthropic:MODEL | openai:MODEL | gguf:PATH (a local GGUF file; gguf: alone is "
                        "the bundled small model) (default offline)")
    g.add_argument("--base-url", default=None, help="server of an OpenAI-compatible or proxy endpoint")
    g.add_argument("--judge-model", action="append", default=None,
                   help="judge every item with this model (e.g. gguf:PATH, a local GGUF file) and mine the "
                        "features with --model (default: --model does both); give it again for further judges: "
                        "each answers every feature and the several-judges model learns how far to trust each "
                        "(docs/judges.md)")
    g.add_argument("--judge-variant", action="store_true",
                   help="a further judge: the run's judge asked a paraphrased question")
    g.add_argument("--shared-rates", action="store_true",
                   help="several judges: one false-yes and one false-no rate per judge for all features "
                        "(default: per judge and feature)")
    g.add_argument("--soft", dest="soft", action="store_true", default=None,
                   help="judgments as P(yes) from the judge's logprobs (default where available: gguf:)")
    g.add_argument("--no-soft", dest="soft", action="store_false", help="judgments as yes/no only")
    g.add_argument("--link", choices=("linear", "mlp"), default="linear")
    g.add_argument("--engine", default=None, help="inference engine (default: the link's default)")
    g.add_argument("--max-sweeps", type=int, default=None, help="inference sweeps per fit")
    g.add_argument("--eps", type=_eps_arg, default="auto", metavar="auto|learned|E",
                   help="the features' flip probability: 'auto' (default) chooses on the validation split, by refits "
                        "without model calls, among held at 0.01, 0.001 or 1e-6 (trust the judgments) as the run "
                        "grows, and learned (eq. 14, the paper) too for the final fit; 'learned'; or a value E in "
                        "[1e-9, 0.5) to hold it at")
    g.add_argument("--eps-prior", type=float, default=None, metavar="A",
                   help="a Beta(1 + A, 1 + A) prior on each learned eps (A pseudo-disagreements and A "
                        "pseudo-agreements: an eps the data leave open goes to 0.5); default 0.3 for soft "
                        "judgments, 0 (the paper's maximum likelihood) for yes/no ones")
    g.add_argument("--ridge", type=_ridge_arg, default="auto", metavar="auto|R",
                   help="linear link: Gaussian prior (ridge penalty) on the feature weights; 'auto' (default) "
                        "chooses among 0, 1, 3, 10, 30 on validation; or a value R >= 0")
    g.add_argument("--metric", default=None, help="r2 | median_absolute_error | mean_cosine_similarity | "
                   "median_relative_error (default: the dataset's)")
    g = f.add_argument_group("discovery")
    g.add_argument("--algorithm", choices=("auto", "1", "2", "3", "4", "zero-shot"), default="auto",
                   help="auto (default): add features (Algorithm 1) until --patience additions bring no validation "
                        "improvement, prune (Algorithm 3) while validation improves, end on the best validation "
                        "state; 1|2|3|4: a fixed plan of --cycles steps, ending on its last state")
    g.add_argument("--cycles", type=int, default=None,
                   help="auto: cap on additions (default 100); 1|2|3: runs of the algorithm; 4: cycles "
                        "(default 3)")
    g.add_argument("--patience", type=int, default=None,
                   help="auto: stop adding after this many additions (discarded ones count) without a new best "
                        "validation score (default 20)")
    g.add_argument("--prune-patience", type=int, default=None,
                   help="auto: stop pruning after this many removals without a new best (default 1; 0: no pruning)")
    g.add_argument("--n-add", type=int, default=5, help="Algorithm 4: additions per cycle")
    g.add_argument("--n-remove", type=int, default=2, help="Algorithm 4: removals per cycle")
    g.add_argument("--zero-shot-n", type=int, default=40, help="--algorithm zero-shot: proposals")
    g.add_argument("--zero-shot-baseline", type=int, default=0,
                   help="also run the zero-shot baseline with this many proposals (run-dir/zero-shot)")
    g.add_argument("--min-activity", type=float, default=None,
                   help="discard a feature judged positive for fewer than this share of the training items "
                        "(default 0.02, the paper's 2%%; the upper limit stays 0.98)")
    g.add_argument("--seed", type=int, default=0, help="seeds the split and every step")
    g.add_argument("--validated", action="store_true",
                   help="houses/movies: the hand-tuned settings of earlier releases (houses --algorithm 1 --cycles 25 "
                        "--item-fields zipcode --eps 0.01 --ridge 1 --min-activity 0.01 --refit-train-val; movies "
                        "--algorithm 1 --cycles 80 --eps 0.001 --ridge 10 --refit-train-val); not needed any more: "
                        "the defaults choose on validation; flags you give still win")
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
    if args.command == "fit":
        args.given = given_settings(argv)
        if args.validated:
            args.given |= set(VALIDATED_SETTINGS[args.dataset])
    return args


def given_settings(argv: Sequence[str] | None) -> set[str]:
    """The settings (:data:`~genz_pyro.cli.settings.SETTING_KEYS`) that ``genz fit`` was given
    explicitly on the command line (``--resume`` compares them with the run's own)."""
    parser = build_parser()
    fit_parser = parser._defaults["fit_parser"]
    for action in fit_parser._actions:
        action.default = argparse.SUPPRESS
    fit_parser._defaults.clear()
    return set(vars(parser.parse_args(argv))) & set(SETTING_KEYS)

"""``genz describe-images``: listing photos described by a vision model, cached and resumable."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from genz_pyro.cli.common import CliError, build_model, make_budget
from genz_pyro.fm.protocol import FoundationModel

__all__ = ["IMAGE_PROMPT", "describe_images", "cmd_describe_images"]

IMAGE_PROMPT = "Describe the listing image in detail."
_IMAGE_OP = "describe_image"  # the cache key namespace of image descriptions
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp")



def describe_images(
    images: str | Path,
    model: FoundationModel,
    out: str | Path,
    *,
    cache: Any = None,
    prompt: str = IMAGE_PROMPT,
    progress: bool = False,
) -> dict[str, int]:
    """Describe every image of a folder with a vision model into a JSONL file.

    One line ``{"image": file name, "description": text}`` per image, appended as
    each is answered (so a killed run keeps what it paid for). Images already in
    ``out`` are skipped; answers are also cached in ``cache`` (a
    :class:`~genz_pyro.fm.cache.JudgmentCache`, keyed by the model's identity, the
    prompt and the image bytes' sha256), so a lost ``out`` file costs nothing to rebuild.

    Returns:
        ``{"images": total, "described": new calls, "cached": from cache, "skipped": already in out}``.

    Raises:
        ValueError: when ``images`` is not a folder with images or the model cannot
            describe images.
    """
    from tqdm import tqdm

    from genz_pyro.fm.cached import model_identity

    folder = Path(images)
    if not folder.is_dir():
        raise ValueError(f"images: {folder} is not a folder; pass the folder holding the listing photos")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise ValueError(f"images: {folder} holds no .jpg/.jpeg/.png/.gif/.webp file")
    describe = getattr(model, "describe_image", None)
    if not callable(describe):
        raise ValueError(f"model: {model.name} cannot describe images; use --model anthropic:MODEL or openai:MODEL")
    out_path = Path(out)
    done: set[str] = set()
    if out_path.exists():
        lines = out_path.read_text(encoding="utf-8").splitlines()
        for lineno, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                done.add(str(json.loads(line)["image"]))
            except (json.JSONDecodeError, KeyError, TypeError):
                if lineno == len(lines):
                    break  # a torn last line of a killed run: redone from the cache
                raise ValueError(f"out: {out_path} line {lineno} is not a description record; "
                                 "fix or delete the file") from None
        _truncate_torn(out_path)
    identity = model_identity(model)
    stats = {"images": len(files), "described": 0, "cached": 0, "skipped": 0}
    out_path.parent.mkdir(parents=True, exist_ok=True)
    for f in tqdm(files, desc="describing images", unit="image", disable=not progress, file=sys.stderr):
        if f.name in done:
            stats["skipped"] += 1
            continue
        data = f.read_bytes()
        request = {"prompt": prompt, "sha256": hashlib.sha256(data).hexdigest()}
        text = cache.get_answer(identity, _IMAGE_OP, request) if cache is not None else None
        if isinstance(text, str) and text.strip():
            stats["cached"] += 1
        else:
            text = describe(data, prompt)
            if cache is not None:
                cache.put_answer(identity, _IMAGE_OP, request, text)
            stats["described"] += 1
        with open(out_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"image": f.name, "description": text}, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    return stats


def _truncate_torn(path: Path) -> None:
    raw = path.read_bytes()
    if raw and not raw.endswith(b"\n"):
        cut = raw.rfind(b"\n") + 1
        with open(path, "r+b") as fh:
            fh.truncate(cut)


def cmd_describe_images(args: argparse.Namespace) -> int:
    """``genz describe-images``."""
    from genz_pyro.fm.cache import JudgmentCache

    if args.model.strip() == "offline":
        raise CliError("--model: the offline model cannot see images; use anthropic:MODEL or openai:MODEL")
    model = build_model(args.model, base_url=args.base_url, budget=make_budget(args.budget_calls, args.budget_usd))
    out = Path(args.out)
    cache = JudgmentCache(args.cache if args.cache else out.with_name(out.name + ".cache.sqlite"))
    try:
        stats = describe_images(args.images, model, out, cache=cache, prompt=args.prompt,
                                progress=not args.no_progress)
    except ValueError as exc:
        raise CliError(f"--{str(exc).split(':', 1)[0]}: {str(exc).split(':', 1)[1].strip()}") from None
    finally:
        cache.close()
    print(f"{stats['images']} image(s): {stats['described']} described, {stats['cached']} from the cache, "
          f"{stats['skipped']} already in {out}")
    u = model.usage
    print(f"provider calls: {u.calls}, tokens in/out {u.input_tokens}/{u.output_tokens}, ${u.cost_usd:.2f}")
    return 0

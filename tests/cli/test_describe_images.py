"""`genz describe-images` against the local fake provider: wire traffic, resume, cache, keys."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fm"))
from servers import FakeProvider  # noqa: E402

from genz_pyro.cli import main  # noqa: E402
from genz_pyro.datasets.houses import read_descriptions  # noqa: E402

KEY = "sk-ant-test-NOT-A-REAL-KEY-describe-0123"
OPENAI_KEY = "sk-test-NOT-A-REAL-KEY-describe-4567"
PNG = b"\x89PNG\r\n\x1a\n"
JPEG = b"\xff\xd8\xff\xe0"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


class VisionProvider(FakeProvider):
    """The fake provider, describing an image by the digest of its bytes (so each
    description can be traced back to its photo)."""

    def anthropic_message(self, body: dict[str, Any]) -> dict[str, Any]:
        out = super().anthropic_message(body)
        user = body["messages"][0]["content"]
        if isinstance(user, list):
            img = next(b for b in user if b["type"] == "image")
            prompt = next(b["text"] for b in user if b["type"] == "text")
            data = base64.b64decode(img["source"]["data"])
            out["content"] = [{"type": "text", "text": f"photo {_digest(data)} ({prompt})"}]
        return out

    def openai_completion(self, body: dict[str, Any]) -> dict[str, Any]:
        out = super().openai_completion(body)
        parts = body["messages"][-1]["content"]
        if isinstance(parts, list):
            url = next(p["image_url"]["url"] for p in parts if p["type"] == "image_url")
            data = base64.b64decode(url.split(",", 1)[1])
            out["choices"][0]["message"]["content"] = f"photo {_digest(data)}"
        return out


def _images(folder: Path) -> dict[str, bytes]:
    folder.mkdir()
    files = {
        "1_frontal.jpg": JPEG + b"front of house one",
        "1_kitchen.jpg": JPEG + b"kitchen of house one",
        "2_bathroom.png": PNG + b"bathroom of house two",
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    (folder / "notes.txt").write_text("not an image")
    return files


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def genz(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """``genz(*args, env_extra={...})``: the command in-process, keys only from the environment."""

    def run(*args: str, env_extra: dict[str, str]) -> Result:
        for k in list(os.environ):
            if k.endswith("_API_KEY"):
                monkeypatch.delenv(k)
        for k, v in env_extra.items():
            monkeypatch.setenv(k, v)
        capsys.readouterr()
        rc = main(list(args))
        out = capsys.readouterr()
        return Result(rc, out.out, out.err)

    return run


def _image_calls(server: FakeProvider) -> list:
    return [r for r in server.model_calls() if isinstance(r.body["messages"][-1]["content"], list)]


def test_describe_images_anthropic_resumes_and_caches(tmp_path: Path, genz: Callable[..., Result]) -> None:
    files = _images(tmp_path / "photos")
    out = tmp_path / "descriptions.jsonl"
    with VisionProvider() as server:
        args = ["describe-images", "--images", str(tmp_path / "photos"), "--model", "anthropic:claude-test",
                "--base-url", server.url, "--out", str(out), "--no-progress"]
        env = {"ANTHROPIC_API_KEY": KEY}
        # a budget of 2 calls stops before the third photo: exit 3, two lines kept
        r = genz(*args, "--budget-calls", "2", env_extra=env)
        assert r.returncode == 3, r.stderr
        assert "budget" in r.stderr.lower()
        assert len(_image_calls(server)) == 2
        assert len(out.read_text().splitlines()) == 2
        # rerun: only the missing photo is sent
        r = genz(*args, env_extra=env)
        assert r.returncode == 0, r.stderr
        calls = _image_calls(server)
        assert len(calls) == 3
        assert "1 described, 0 from the cache, 2 already in" in r.stdout
        # wire format: the listing prompt and the image bytes with their media type
        sent = {}
        for c in calls:
            blocks = c.body["messages"][0]["content"]
            img = next(b for b in blocks if b["type"] == "image")
            assert next(b["text"] for b in blocks if b["type"] == "text") == "Describe the listing image in detail."
            sent[base64.b64decode(img["source"]["data"])] = img["source"]["media_type"]
            # the key from the environment travels in a header (x-api-key, or a bearer token in newer SDKs)
            assert KEY in (c.headers.get("x-api-key"), c.headers.get("authorization", "")[7:])
        assert sent == {d: ("image/png" if d.startswith(PNG) else "image/jpeg") for d in files.values()}
        # every photo described once, by its own bytes
        lines = [json.loads(x) for x in out.read_text().splitlines()]
        assert sorted(x["image"] for x in lines) == sorted(files)
        for x in lines:
            assert x["description"].startswith(f"photo {_digest(files[x['image']])} ")
        # lose the output file: rebuilt from the cache with no call
        out.unlink()
        r = genz(*args, env_extra=env)
        assert r.returncode == 0, r.stderr
        assert len(_image_calls(server)) == 3
        assert "0 described, 3 from the cache" in r.stdout
    # the houses loader reads the file; the key is in no file written
    desc = read_descriptions(out, num_houses=2)
    assert set(desc) == {1, 2} and set(desc[1]) == {"frontal", "kitchen"} and set(desc[2]) == {"bathroom"}
    for f in tmp_path.iterdir():
        if f.is_file():
            assert KEY.encode() not in f.read_bytes(), f


def test_describe_images_openai_and_errors(tmp_path: Path, genz: Callable[..., Result]) -> None:
    files = _images(tmp_path / "photos")
    out = tmp_path / "d.jsonl"
    with VisionProvider() as server:
        r = genz("describe-images", "--images", str(tmp_path / "photos"), "--model", "openai:gpt-test",
                  "--base-url", server.url + "/v1", "--out", str(out), "--no-progress",
                  env_extra={"OPENAI_API_KEY": OPENAI_KEY})
        assert r.returncode == 0, r.stderr
        assert len(_image_calls(server)) == 3
        got = {json.loads(x)["image"]: json.loads(x)["description"] for x in out.read_text().splitlines()}
        assert got == {name: f"photo {_digest(data)}" for name, data in files.items()}
    r = genz("describe-images", "--images", str(tmp_path / "nope"), "--model", "openai:gpt-test", "--out",
              str(out), env_extra={})
    assert r.returncode == 2 and "--images" in r.stderr and "not a folder" in r.stderr
    r = genz("describe-images", "--images", str(tmp_path / "photos"), "--model", "offline", "--out", str(out),
              env_extra={})
    assert r.returncode == 2 and "--model" in r.stderr


@pytest.mark.parametrize("torn", [b'{"image": "2_bathroom.png", "descr', b""])
def test_describe_images_repairs_a_torn_last_line(tmp_path: Path, torn: bytes) -> None:
    from genz_pyro.cli import describe_images
    from genz_pyro.fm.cache import JudgmentCache
    from genz_pyro.fm.openai_backend import OpenAIModel

    files = _images(tmp_path / "photos")
    out = tmp_path / "d.jsonl"
    out.write_bytes(json.dumps({"image": "1_frontal.jpg", "description": "kept"}).encode() + b"\n" + torn)
    with VisionProvider() as server:
        model = OpenAIModel("gpt-test", base_url=server.url + "/v1", api_key=OPENAI_KEY, timeout=5.0)
        with JudgmentCache(tmp_path / "c.sqlite") as cache:
            stats = describe_images(tmp_path / "photos", model, out, cache=cache)
        assert stats == {"images": 3, "described": 2, "cached": 0, "skipped": 1}
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["image"] for x in lines] == ["1_frontal.jpg", "1_kitchen.jpg", "2_bathroom.png"]
    assert lines[0]["description"] == "kept"
    assert lines[2]["description"] == f"photo {_digest(files['2_bathroom.png'])}"

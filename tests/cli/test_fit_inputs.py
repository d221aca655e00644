"""`genz fit` input checks: every bad flag or file is refused naming the flag (or the file)
and the fix, BEFORE anything is created (issue 9, items 3, 6 and 7)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genz_pyro.cli import main

BASE = ["fit", "--dataset", "planted", "--n-items", "40", "--planted-features", "2", "--algorithm", "1",
        "--cycles", "1", "--no-progress"]


def _fit(tmp_path: Path, capsys: pytest.CaptureFixture[str], *flags: str, base: list[str] = BASE) -> tuple[int, str]:
    capsys.readouterr()
    rc = main(base + ["--run-dir", str(tmp_path / "run"), *flags])
    return rc, capsys.readouterr().err


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--seed", "-1"], "--seed: must be a whole number >= 0"),
        (["--ridge", "inf"], "--ridge: must be a finite number >= 0"),
        (["--ridge", "nan"], "--ridge: must be a finite number >= 0"),
        (["--eps", "nan"], "--eps: must lie in"),
        (["--n-items", "0"], "--n-items: must be a whole number >= 20"),
        (["--n-items", "3"], "--n-items: must be a whole number >= 20"),
        (["--planted-features", "0"], "--planted-features: must be a whole number in 1..8"),
        (["--max-sweeps", "0"], "--max-sweeps: must be a whole number >= 1"),
        (["--cycles", "-1"], "--cycles: must be a whole number >= 0"),
        (["--n-add", "-2"], "--n-add: must be a whole number >= 0"),
        (["--algorithm", "zero-shot", "--zero-shot-n", "0"], "--zero-shot-n: must be a whole number >= 1"),
        (["--zero-shot-baseline", "-3"], "--zero-shot-baseline: must be a whole number >= 0"),
        (["--engine", "nope"], "--engine: unknown engine 'nope'"),
        (["--link", "mlp", "--engine", "cavi"], "--engine: 'cavi' needs the linear link"),
        (["--metric", "nope"], "--metric: unknown metric 'nope'"),
        (["--bits", "4"], "--bits: applies to --dataset binary"),
        (["--budget-usd", "nan"], "--budget-usd: must be a finite number >= 0"),
        (["--budget-calls", "-1"], "--budget-calls: must be a whole number >= 0"),
        (["--encoding", "klingon"], "--encoding: unknown encoding 'klingon'"),
    ],
)
def test_a_bad_flag_is_refused_naming_it_and_creates_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            flags: list[str], message: str) -> None:
    rc, err = _fit(tmp_path, capsys, *flags)
    assert rc == 2, err
    assert message in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()  # item 6: a failed validation leaves no run directory


def test_bits_zero_for_binary_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, err = _fit(tmp_path, capsys, "--bits", "0", base=["fit", "--dataset", "binary", "--no-progress"])
    assert rc == 2 and "--bits: must be a whole number in 1..16" in err
    assert not (tmp_path / "run").exists()


def test_after_a_refusal_the_corrected_command_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, err = _fit(tmp_path, capsys, "--engine", "nope")
    assert rc == 2 and not (tmp_path / "run").exists()
    rc, err = _fit(tmp_path, capsys)  # no "already holds a run", no bad settings replayed
    assert rc == 0, err
    assert json.loads((tmp_path / "run" / "cli.json").read_text())["engine"] is None


def test_anthropic_without_a_key_names_the_variable_and_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    rc, err = _fit(tmp_path, capsys, "--model", "anthropic:claude-sonnet-4-5")
    assert rc == 3, err
    assert "ANTHROPIC_API_KEY" in err and "Traceback" not in err and "TypeError" not in err
    assert not (tmp_path / "run").exists()  # refused before anything was created
    rc, err = _fit(tmp_path, capsys, "--model", "openai:gpt-4.1")
    assert rc == 3 and "OPENAI_API_KEY" in err
    assert not (tmp_path / "run").exists()
    # a dry run needs no key: it sends nothing
    rc, err = _fit(tmp_path, capsys, "--model", "anthropic:claude-sonnet-4-5", "--dry-run")
    assert rc == 0, err


def test_anthropic_backend_without_a_key_raises_the_library_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from genz_pyro.fm.anthropic_backend import AnthropicModel
    from genz_pyro.fm.errors import AuthenticationError

    for var in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    model = AnthropicModel("claude-sonnet-4-5", base_url="http://127.0.0.1:9", max_retries=0)
    with pytest.raises(AuthenticationError, match="ANTHROPIC_API_KEY"):
        model.judge("red", {"a": "red apple"})
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", "token-from-the-environment")
    model.check_credentials()  # an auth token is a credential too


# ------------------------------------------------------------------ CSV encodings
ROWS = "name,value\n" + "".join(f"café {i},{i}\n" for i in range(64))


def _csv_args(path: Path) -> list[str]:
    return ["fit", "--items-file", str(path), "--item-column", "name", "--target-column", "value", "--algorithm",
            "1", "--cycles", "1", "--no-progress"]


def test_a_utf8_bom_csv_reads_its_first_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from genz_pyro.tabular import load_table

    p = tmp_path / "excel.csv"
    p.write_bytes(b"\xef\xbb\xbf" + ROWS.encode("utf-8"))  # Excel's "CSV UTF-8"
    ds = load_table(p, item_columns="name", target_columns="value")
    assert ds.items["row-1"] == "café 0"
    p2 = tmp_path / "excel.jsonl"
    p2.write_bytes(b"\xef\xbb\xbf" + b'{"name": "a", "value": 1}\n{"name": "b", "value": 2}\n')
    assert load_table(p2, item_columns="name", target_columns="value").items == {"row-1": "a", "row-2": "b"}
    rc, err = _fit(tmp_path, capsys, base=_csv_args(p))
    assert rc == 0, err


def test_a_latin1_csv_names_the_file_and_the_fix_and_encoding_reads_it(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from genz_pyro.tabular import load_table

    p = tmp_path / "latin.csv"
    p.write_bytes(ROWS.encode("latin-1"))
    rc, err = _fit(tmp_path, capsys, base=_csv_args(p))
    assert rc == 2
    assert str(p) in err and "--encoding" in err and "line 2" in err, err
    assert not (tmp_path / "run").exists()
    rc, err = _fit(tmp_path, capsys, "--encoding", "latin-1", base=_csv_args(p))
    assert rc == 0, err
    assert load_table(p, item_columns="name", target_columns="value", encoding="latin-1").items["row-1"] == "café 0"
    assert json.loads((tmp_path / "run" / "cli.json").read_text())["encoding"] == "latin-1"

"""Thread policy of the ``genz`` command: ``--threads`` (default 1) sets torch's threads."""

from __future__ import annotations

import pytest
import torch

from genz_pyro.cli import main, parse_args


def test_the_command_defaults_to_one_thread() -> None:
    assert parse_args(["demo"]).threads == 1
    assert parse_args(["fit", "--dataset", "binary"]).threads == 1


def test_threads_flag_sets_torch_threads() -> None:
    before = torch.get_num_threads()
    try:
        assert main(["demo", "--bits", "4", "--threads", "2", "--no-progress"]) == 0
        assert torch.get_num_threads() == 2
        assert main(["demo", "--bits", "4", "--no-progress"]) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_bad_thread_count_names_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--threads", "0"]) == 2
    assert "--threads" in capsys.readouterr().err

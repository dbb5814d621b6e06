"""``python -m vton``: lists its commands; bad input is one ``error:`` line and exit code 2, never a traceback."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import helpers
import pytest

from vton.cli import COMMANDS, EXIT_BAD_INPUT

REPO = Path(__file__).resolve().parents[1]


def vton(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Through `helpers.run`: the whole process tree is killed on a timeout."""
    return helpers.run([sys.executable, "-m", "vton", *args], timeout=timeout, env=dict(os.environ))


def command_exists(spec: str) -> bool:
    return importlib.util.find_spec(spec.split(":")[0]) is not None


def assert_one_error_line(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == EXIT_BAD_INPUT, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0], errors[0]


def test_help_lists_every_command():
    result = vton("--help")
    assert result.returncode == 0
    for path, _, _ in COMMANDS:
        assert path[0] in result.stdout
    assert vton().returncode == 0  # no command: help, not an error


@pytest.mark.skipif(not command_exists("vton.preprocess.cli:preprocess"), reason="preprocess command not written yet")
def test_preprocess_with_a_missing_photo_is_one_error_line(tmp_path):
    result = vton("preprocess", "--person", "/nonexistent/person.jpg", "--out", str(tmp_path / "out"))
    assert_one_error_line(result, "/nonexistent/person.jpg")


@pytest.mark.skipif(not command_exists("vton.data.cli:synth"), reason="synth command not written yet")
def test_synth_with_a_bad_size_is_one_error_line(tmp_path):
    result = vton("synth", "--out", str(tmp_path / "out"), "--n", "1", "--seed", "0", "--size", "256by192")
    assert_one_error_line(result, "size")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.png"))


def test_usage_mistakes_are_one_error_line():
    for argv in (["preprocess"], ["train"], ["bogus"]):
        proc = vton(*argv)
        assert proc.returncode == 2, argv
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr

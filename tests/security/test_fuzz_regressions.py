"""Every input coverage-guided fuzzing (`python -m bench.fuzz`) ever found crashing a
parser, replayed: each must now be accepted or refused with the parser's own error. And
a short fuzzing run of every target, from its seed corpus."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.fuzz import ROOT, TARGETS, build_target

FOUND = Path(__file__).with_name("fuzz_regressions")
CASES = sorted(FOUND.glob("*/*"))


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.name}" for c in CASES])
def test_a_crash_once_found_is_refused_cleanly(case):
    build_target(case.parent.name)(case.read_bytes())


def test_the_damaged_archive_fuzzing_found_is_refused_with_the_reason(tmp_path):
    from app.core.tasks.archive import unpack
    from app.errors import InvalidInput

    with pytest.raises(InvalidInput, match="task archive is damaged"):
        unpack((FOUND / "task-archive" / "truncated-member").read_bytes(), tmp_path / "t")
    assert not list(tmp_path.iterdir())  # nothing half-unpacked left


def test_every_target_survives_a_short_fuzzing_run():
    pytest.importorskip("atheris")
    done = subprocess.run(
        [sys.executable, "-m", "bench.fuzz", "--runs", "2000", "--seed", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    table = done.stdout.splitlines()
    assert len(table) == 1 + len(TARGETS)
    for line in table[1:]:
        _name, executions, *_, crashes = line.split()
        assert int(executions.replace(",", "")) >= 2000 and crashes == "0", line


def test_a_tensor_header_whose_dtype_is_not_a_name_is_refused():
    from app.wire.tensor_format import SafetensorsError, read

    data = (FOUND / "safetensors" / "dtype-is-a-list").read_bytes()
    with pytest.raises(SafetensorsError, match=r"unknown dtype \[20, 16\]"):
        read(memoryview(data))

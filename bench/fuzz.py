"""Coverage-guided fuzzing (atheris, libFuzzer) of what FedDeck reads from outside: the
frame decoder, the chunk reassembler, the safetensors reader, and the config, flow and
task parsers (task.toml and the task archive). Each input must be accepted or refused
with the error the parser documents; anything else escaping, or a hang, is a crash.

    python -m bench.fuzz                      # 1,000,000 executions per target
    python -m bench.fuzz --runs 2000 --target frame --target config
    python -m bench.fuzz --write-seeds        # regenerate bench/fuzz_corpus/*

Each target runs in its own process, starting from its checked-in seed corpus; what it
finds goes to a scratch folder, crashing inputs to `bench/fuzz_crashes/<target>/`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).with_name("fuzz_corpus")
CRASHES = Path(__file__).with_name("fuzz_crashes")
TARGETS = ("frame", "chunks", "safetensors", "config", "flow", "task-manifest", "task-archive")
MAX_LEN = {"task-archive": 16384, "chunks": 8192}


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def build_target(name: str) -> Callable[[bytes], None]:
    """The one-input test of target `name`; imports (and so instruments) what it needs."""
    if name == "frame":
        from app.wire.messages import MessageRejected, decode

        def frame(data: bytes) -> None:
            with contextlib.suppress(MessageRejected):
                decode(data, max_size=1 << 20)

        return frame
    if name == "chunks":
        from app.wire.chunking import Reassembler, WireLimits
        from app.wire.messages import MessageRejected, decode, payload_offset

        limits = WireLimits(chunk_size=1024, max_message_size=1 << 16)

        def chunks(data: bytes) -> None:
            # The input is a stream of chunks, each after its length (2 bytes, big-endian).
            reassembler = Reassembler(limits, payload_offset=payload_offset)
            at = 0
            while at + 2 <= len(data):
                size = int.from_bytes(data[at : at + 2], "big") % 2048
                chunk, at = data[at + 2 : at + 2 + size], at + 2 + size
                try:
                    frame = reassembler.feed(chunk)
                    if frame is not None:
                        decode(frame, payload_sha256=reassembler.payload_sha256)
                except MessageRejected:
                    pass

        return chunks
    if name == "safetensors":
        from app.wire.tensor_format import SafetensorsError, read

        def safetensors(data: bytes) -> None:
            try:
                tensors = read(memoryview(data))
            except SafetensorsError:
                return
            for array in tensors.values():
                array.sum()  # every view must lie inside the buffer

        return safetensors
    if name == "config":
        from app.core.fl_config import config_from_toml
        from app.errors import InvalidInput

        def config(data: bytes) -> None:
            with contextlib.suppress(InvalidInput):
                config_from_toml(_text(data), "fuzzed.toml")

        return config
    if name == "flow":
        from app.errors import InvalidInput
        from app.services.automation.flow_definitions import flow_from_toml

        def flow(data: bytes) -> None:
            with contextlib.suppress(InvalidInput):
                flow_from_toml(_text(data), "fuzzed.toml")

        return flow
    if name == "task-manifest":
        from app.core.tasks.manifest import parse_manifest
        from app.errors import InvalidInput

        def task_manifest(data: bytes) -> None:
            with contextlib.suppress(InvalidInput):
                parse_manifest(_text(data), "task.toml")

        return task_manifest
    if name == "task-archive":
        from app.core.tasks.archive import unpack
        from app.errors import InvalidInput

        scratch = Path(tempfile.mkdtemp(prefix="feddeck-fuzz-"))

        def task_archive(data: bytes) -> None:
            dest = scratch / "task"
            try:
                unpack(data, dest)
            except InvalidInput:
                pass
            else:  # whatever it wrote is inside dest
                for path in dest.rglob("*"):
                    assert path.resolve().is_relative_to(dest.resolve()), path
            finally:
                shutil.rmtree(dest, ignore_errors=True)

        return task_archive
    raise SystemExit(f"unknown target {name!r}; one of {', '.join(TARGETS)}")


def seeds() -> dict[str, dict[str, bytes]]:
    """A few valid inputs per target: where the mutations start."""
    import io
    import tarfile

    import numpy as np

    from app.wire.chunking import split
    from app.wire.messages import Message, MessageType, encode
    from app.wire.tensor_format import layout

    weights = {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.zeros(2, np.int64)}
    header, views = layout(weights)
    tensors = header + b"".join(bytes(v) for v in views)
    small = encode(Message(MessageType.LOG, job_id=1, body={"level": "INFO", "text": "hello"}))
    model = encode(Message(MessageType.MODEL_UP, job_id=3, round=2, tensors=weights))
    stream = b"".join(len(c).to_bytes(2, "big") + c for c in split(model, 256))
    configs = {p.stem: p.read_bytes() for p in (ROOT / "resources" / "configs").glob("*.toml")}
    flows = {p.stem: p.read_bytes() for p in (ROOT / "resources" / "flows").glob("*.toml")}
    manifests = {
        p.parent.name: p.read_bytes() for p in (ROOT / "resources" / "tasks").glob("*/task.toml")
    }
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for name, body in (("task.toml", manifests.get("digits", b"")), ("task.py", b"x = 1\n")):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return {
        "frame": {"log": small, "model": model},
        "chunks": {"model-in-64-byte-chunks": stream},
        "safetensors": {"two-tensors": tensors},
        "config": configs,
        "flow": flows,
        "task-manifest": manifests,
        "task-archive": {"task": archive.getvalue()},
    }


def write_seeds() -> None:
    for target, files in seeds().items():
        folder = CORPUS / target
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        print(f"{target}: {len(files)} seed(s) in {folder.relative_to(ROOT)}")


def fuzz_one(target: str, runs: int, seed: int) -> None:
    """In this process: libFuzzer's loop over `target` (exits when done or on a crash)."""
    import atheris

    with atheris.instrument_imports(include=["app"]):
        test = build_target(target)
    scratch = tempfile.mkdtemp(prefix=f"feddeck-fuzz-{target}-")
    crashes = CRASHES / target
    crashes.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.argv[0],
        f"-runs={runs}",
        f"-seed={seed}",  # 0: libFuzzer picks one
        f"-max_len={MAX_LEN.get(target, 4096)}",
        "-timeout=10",  # seconds per input: a hang is a crash
        "-rss_limit_mb=4096",
        f"-artifact_prefix={crashes}/",
        "-print_final_stats=1",
        scratch,  # new inputs go here; the seeds below are only read
        str(CORPUS / target),
    ]
    atheris.Setup(argv, test)
    atheris.Fuzz()


def run_all(targets: list[str], runs: int, seed: int) -> int:
    rows, failed = [], 0
    for target in targets:
        started = time.monotonic()
        done = subprocess.run(
            [
                *(sys.executable, "-m", "bench.fuzz", "--child", target),
                *("--runs", str(runs), "--seed", str(seed)),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            check=False,
        )
        seconds = time.monotonic() - started
        out = done.stdout + done.stderr
        execs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", out)
        executed = int(execs[-1]) if execs else 0
        crashed = done.returncode != 0
        failed += crashed
        rows.append((target, executed, seconds, "CRASH" if crashed else "0"))
        if crashed:
            print(out[-4000:], file=sys.stderr)
    print(f"{'target':<14} {'executions':>12} {'seconds':>8} {'exec/s':>9} {'crashes':>8}")
    for target, executed, seconds, crashes in rows:
        rate = executed / seconds if seconds else 0
        print(f"{target:<14} {executed:>12,} {seconds:>8.1f} {rate:>9,.0f} {crashes:>8}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000, help="executions per target")
    parser.add_argument("--target", action="append", choices=TARGETS, help="default: all")
    parser.add_argument("--seed", type=int, default=0, help="libFuzzer's seed (0: random)")
    parser.add_argument("--write-seeds", action="store_true", help="regenerate the corpora")
    parser.add_argument("--child", choices=TARGETS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.write_seeds:
        write_seeds()
        return 0
    if args.child:
        fuzz_one(args.child, args.runs, args.seed)
        return 0
    return run_all(args.target or list(TARGETS), args.runs, args.seed)


if __name__ == "__main__":
    raise SystemExit(main())

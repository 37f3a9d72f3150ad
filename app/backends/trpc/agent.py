"""torchrun's agent (`python -m app.backends.trpc.agent ARGS`, ARGS as torchrun's), ended
without Python's finalization once its ranks are done: with torch loaded that teardown
alone took half a second here, after the run had ended."""

from __future__ import annotations

import os
import sys
import traceback


def main() -> None:
    code = 1
    try:
        from torch.distributed.run import main as torchrun

        torchrun()  # reads sys.argv[1:] as torchrun does
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # a rank failed (ChildFailedError) or a signal: said as torchrun says it
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    main()

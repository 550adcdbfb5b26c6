"""`python -m tests.bench.nofsync [bot options]`: run `python -m bot` with every fsync of the
file store skipped. NOT durable: a measuring device only, so the rush shows in the same run what
the durable writes cost against the naive bot (which writes nothing)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import storage.files


def _skip_fsync(path: Path) -> None:
    del path


def main() -> None:
    # storage.files looks the name up at each call (stage, publish_many and the folder syncs).
    storage.files.fsync_path = _skip_fsync
    sys.argv = ["bot", *sys.argv[1:]]
    runpy.run_module("bot", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()

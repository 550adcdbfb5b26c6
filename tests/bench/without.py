"""`python -m tests.bench.without MODULE[,MODULE...] [bot options]`: run `python -m bot` as if
those modules were not installed (an import of one raises ModuleNotFoundError, as for a missing
package): the rush measures what each optional speed-up gives on its own, in the same run."""

from __future__ import annotations

import runpy
import sys


def main() -> None:
    for name in sys.argv[1].split(","):
        # None in sys.modules makes `import name` raise ModuleNotFoundError.
        sys.modules[name] = None  # type: ignore[assignment]
    sys.argv = ["bot", *sys.argv[2:]]
    runpy.run_module("bot", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()

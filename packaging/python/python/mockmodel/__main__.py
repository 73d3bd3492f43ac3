"""``python -m mockmodel [ARGS]``: runs the packaged mockmodel-server with ARGS (same as the
``mockmodel-server`` command the wheel installs), e.g. ``python -m mockmodel --fixtures ./fixtures``."""

import os
import subprocess
import sys

from mockmodel._server import find_binary


def main() -> int:
    binary = find_binary()
    if os.name == "posix":
        os.execv(binary, [binary, *sys.argv[1:]])  # the server replaces us: signals reach it directly
    return subprocess.call([binary, *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())

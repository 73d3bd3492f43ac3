"""``python -m mockmodel._watchdog CMD...``: runs CMD (the server) and stops it when this process's
stdin reaches EOF, i.e. when the process that started us closes the pipe or dies in any way (the
kernel closes its end). Used where ``PR_SET_PDEATHSIG`` is not available (macOS) or would fire too
early (a server started from a thread other than the main thread)."""

import os
import signal
import subprocess
import sys
import threading


def main() -> int:
    cmd = sys.argv[1:]
    kwargs = {}
    if sys.platform.startswith("linux"):
        from mockmodel._server import _pdeathsig_preexec

        kwargs["preexec_fn"] = _pdeathsig_preexec()  # the server also dies with this watchdog
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, **kwargs)

    def stop(*_):
        # No wait here: the main thread is in proc.wait() (holding its lock); it returns once the
        # server exits, and this timer makes sure it does.
        if proc.returncode is None:
            try:
                proc.terminate()
            except OSError:
                return
            timer = threading.Timer(5.0, lambda: proc.returncode is None and proc.kill())
            timer.daemon = True
            timer.start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def watch_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except OSError:
            pass
        stop()

    threading.Thread(target=watch_stdin, daemon=True).start()
    return proc.wait()


if __name__ == "__main__":
    code = main()
    os._exit(code if code >= 0 else 128 - code)

"""``python tests/_ctrl_c_elsewhere.py ARGS`` runs ``podium ARGS`` where no Ctrl-C ever
interrupts the main thread's reads.

The main thread blocks SIGINT, so the kernel hands it to an idle thread started
first: Python's C-level handler runs there and flags it, and the main thread's
blocking read goes on as if nothing came. That is what befalls, by chance, a Ctrl-C
that comes just before a read starts (after Python's last check for signals); made
certain here, so a test can show the command ends anyway.
"""

from __future__ import annotations

import runpy
import signal
import sys
import threading
import time


def _idle() -> None:
    while True:
        time.sleep(3600)


threading.Thread(target=_idle, name="takes-ctrl-c", daemon=True).start()
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
sys.argv = ["podium", *sys.argv[1:]]
runpy.run_module("podium", run_name="__main__", alter_sys=True)

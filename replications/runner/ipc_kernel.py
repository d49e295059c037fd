"""The chapter kernel's launcher: ipykernel's own (``python -m ipykernel_launcher``), but with no TCP port.

Over the IPC transport ipykernel still binds one TCP port of its own: the pipe through which a forked child process
(``multiprocessing`` with ``fork``) would send its output, on 127.0.0.1. No chapter forks a Python child, so this
kernel goes without that pipe: a forked child's prints are not forwarded; everything else is ipykernel unchanged.
:class:`~replications.runner.kernel.PrivateKernelManager` starts its kernels with this module.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> None:
    from ipykernel import iostream, kernelapp

    class IOPubThreadWithoutForkPipe(iostream.IOPubThread):
        """The IOPub thread, never listening for forked children (that listener is a TCP port)."""

        def __init__(self, socket, pipe: bool = False, session=False) -> None:
            super().__init__(socket, pipe=False, session=session)

    kernelapp.IOPubThread = IOPubThreadWithoutForkPipe
    kernelapp.launch_new_instance()


if __name__ == "__main__":
    # As ipykernel_launcher: the working folder leaves sys.path while ipykernel loads; the shell puts it back.
    if sys.path[0] == "" or Path(sys.path[0]) == Path.cwd():
        del sys.path[0]
    main()

"""The kernel a chapter notebook runs in: Jupyter's IPC transport, in a folder only this user can open.

By default a Jupyter kernel listens on five TCP ports of the loopback interface, which any local user can
connect to (and ipykernel warns so on stderr). :class:`PrivateKernelManager` starts it on IPC sockets instead:
the connection file and the sockets lie in a fresh ``0o700`` folder under the temporary directory (its path kept
short: a Unix socket path has at most about 100 characters), removed when the kernel shuts down.
The kernel itself is ipykernel's, started through :mod:`replications.runner.ipc_kernel`, which drops the one TCP
port ipykernel opens whatever the transport. Every kernel the runner starts (``run``, ``sweep``, ``refresh``) is
one of these.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import default

#: The module that starts the kernel in place of ``ipykernel_launcher``.
LAUNCHER = "replications.runner.ipc_kernel"
#: The longest temporary directory the socket folder is put in; a longer one (a deep ``TMPDIR``) falls back to /tmp.
MAX_TMP_PATH = 64


def private_folder() -> Path:
    """A new folder only this user can read, write or enter (``tempfile.mkdtemp`` makes it ``0o700``)."""
    parent = tempfile.gettempdir()
    return Path(tempfile.mkdtemp(prefix="kernel-", dir=parent if len(parent) <= MAX_TMP_PATH else "/tmp"))


class PrivateKernelManager(AsyncKernelManager):
    """An :class:`AsyncKernelManager` (what nbclient and papermill use) whose kernel talks over IPC sockets in a
    private folder, never over TCP. Pass it as ``kernel_manager_class`` to nbclient or papermill."""

    @default("transport")
    def _ipc_transport(self) -> str:
        return "ipc"

    @default("connection_file")
    def _private_connection_file(self) -> str:
        return str(private_folder() / "kernel.json")

    @default("ip")
    def _socket_prefix(self) -> str:
        """The IPC sockets are ``<folder>/ipc-<n>``."""
        return str(Path(self.connection_file).parent / "ipc")

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        """The kernel spec's command, with :data:`LAUNCHER` in place of ``ipykernel_launcher``."""
        command = super().format_kernel_cmd(extra_arguments)
        return [LAUNCHER if part == "ipykernel_launcher" else part for part in command]

    async def _async_interrupt_kernel(self) -> None:
        """Interrupt a running kernel, but not one on its way to a shutdown: jupyter_client sends SIGINT before every
        shutdown request, and a kernel still finishing its last message logs "KeyboardInterrupt caught in kernel" on
        stderr, the console's. A shutdown needs no interrupt: ipykernel answers it on its control thread even while
        busy, and a kernel that does not stop is killed after ``shutdown_wait_time``."""
        if not self.shutting_down:
            await super()._async_interrupt_kernel()

    def cleanup_ipc_files(self) -> None:
        """Remove the sockets and, on a shutdown (the connection file is gone; a restart keeps it), the folder."""
        super().cleanup_ipc_files()
        folder = Path(self.connection_file).parent
        if folder.name.startswith("kernel-") and not Path(self.connection_file).exists():
            shutil.rmtree(folder, ignore_errors=True)

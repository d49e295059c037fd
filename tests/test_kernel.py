"""The chapter kernels the runner starts: Jupyter's IPC transport in a folder only the user can open, never a TCP
port, nothing on stderr, and the folder gone after the kernel."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import nbformat
import psutil

from replications.runner.kernel import PrivateKernelManager
from replications.runner.notebook import execute

INSPECT = '''
import json, os, psutil
from ipykernel.connect import get_connection_file
path = get_connection_file()
record = {"pid": os.getpid(), "connection_file": path, "transport": json.load(open(path))["transport"],
          "inet": [str(c) for c in psutil.Process().net_connections(kind="inet")]}
with open(os.path.join(output_dir, "kernel.json"), "w") as f:
    json.dump(record, f)
'''


def _mode(path: Path) -> int:
    """Who may read, write, open (jupyter_client adds the sticky bit to the folder, which only narrows deletion)."""
    return path.stat().st_mode & 0o777


def test_a_kernel_listens_on_no_tcp_port_and_its_files_are_private():
    """Started as nbclient starts it (kernel_manager_class, kernel python3): IPC sockets and a connection file in a
    0o700 folder, the file 0o600; the kernel process has no inet socket; the folder is removed at shutdown."""

    async def inspect() -> tuple[list, Path, dict[str, int], bool]:
        km = PrivateKernelManager(kernel_name="python3")
        await km.start_kernel()
        client = km.client()
        client.start_channels()
        try:
            await client.wait_for_ready(timeout=60)
            inet = psutil.Process(km.provisioner.pid).net_connections(kind="inet")
            folder = Path(km.connection_file).parent
            modes = {p.name: _mode(p) for p in [folder, *folder.iterdir()]}
            sockets = sorted(p.name for p in folder.iterdir() if stat.S_ISSOCK(p.stat().st_mode))
        finally:
            client.stop_channels()
            await km.shutdown_kernel()
        return inet, folder, modes, sockets

    inet, folder, modes, sockets = asyncio.run(inspect())
    assert inet == []
    assert modes[folder.name] == 0o700 and modes["kernel.json"] == 0o600
    assert sockets == [f"ipc-{n}" for n in range(1, 6)]  # shell, iopub, stdin, control, heartbeat
    assert len(str(folder / "ipc-1")) < 100  # a Unix socket path's limit is about 107 bytes
    assert not folder.exists()


def test_the_runner_executes_a_notebook_in_such_a_kernel_and_it_prints_nothing(tmp_path, capfd):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(
        'profile = "full"\nretrain = False\nseed = 0\ndevice = "auto"\noutput_dir = None')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(INSPECT)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook = tmp_path / "inspect.ipynb"
    nbformat.write(nb, notebook)
    outcome = execute("inspect", notebook, tmp_path / "run", profile="full", retrain=False, seed=0, device="cpu",
                      progress=False)
    assert outcome.error.startswith("the notebook finished without writing")  # it ran to its end
    record = json.loads((tmp_path / "run" / "kernel.json").read_text())
    assert record["transport"] == "ipc" and record["inet"] == []
    assert not Path(record["connection_file"]).parent.exists()
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""  # no kernel banner, no TCP warning


def test_refresh_executes_in_place_in_such_a_kernel(tmp_path, capfd):
    """``python -m replications refresh`` re-executes committed notebooks through nbclient: the same private kernel."""
    from replications.runner.refresh import execute_in_place

    notebook = tmp_path / "page.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("output_dir = '.'\n" + INSPECT)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, notebook)
    execute_in_place(notebook)
    record = json.loads((tmp_path / "kernel.json").read_text())
    assert record["transport"] == "ipc" and record["inet"] == []
    assert capfd.readouterr().err == ""

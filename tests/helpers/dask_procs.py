"""A real Dask cluster for tests: `dask scheduler` and `dask worker` as processes on 127.0.0.1.

Every wait is bounded, and every process is stopped by its own PID (SIGTERM, then SIGKILL after a few seconds).
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

START_TIMEOUT = 60.0  # seconds for a scheduler or worker to come up (a loaded 2-core CI machine)


def stop(proc: subprocess.Popen) -> None:
    """Stop ``proc`` by its PID: SIGTERM, then SIGKILL if it is still there after 5 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


class Cluster:
    """The processes of one test's cluster; :meth:`close` stops them all (by PID)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.procs: list[subprocess.Popen] = []
        self.address = ""

    def _spawn(self, args: list[str], log: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        # cwd: the test's folder, so that `python -m` (which puts the current folder first on sys.path) imports
        # the fedlib that PYTHONPATH names, not the repository's.
        with open(self.folder / log, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", *args], stdout=out, stderr=subprocess.STDOUT, env=env,
                                    cwd=self.folder)
        self.procs.append(proc)
        return proc

    def start_scheduler(self) -> str:
        info = self.folder / "scheduler.json"
        proc = self._spawn(
            ["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0", "--dashboard-address", ":0",
             "--scheduler-file", str(info)], "scheduler.log",
        )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"dask scheduler exited: {self.log('scheduler.log')}")
            with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
                self.address = json.loads(info.read_text())["address"]
                self.scheduler = proc
                return self.address
            time.sleep(0.05)
        raise TimeoutError(f"dask scheduler did not start within {START_TIMEOUT} s: {self.log('scheduler.log')}")

    def start_worker(self, name: str, *, pythonpath: str | None = None) -> subprocess.Popen:
        """A worker process (no nanny) named ``name``; ``pythonpath`` replaces the inherited PYTHONPATH."""
        (self.folder / name / "tmp").mkdir(parents=True)
        env = dict(os.environ, OMP_NUM_THREADS="1", TMPDIR=str(self.folder / name / "tmp"))  # its temporary files
        if pythonpath is not None:
            env["PYTHONPATH"] = pythonpath
        return self._spawn(
            ["distributed.cli.dask_worker", self.address, "--no-nanny", "--nthreads", "1", "--name", name,
             "--local-directory", str(self.folder / name)], f"{name}.log", env,
        )  # fmt: skip

    def wait_for_workers(self, n: int) -> None:
        from distributed import Client

        with Client(self.address, timeout="30s") as client:
            client.wait_for_workers(n, timeout=START_TIMEOUT)

    def log(self, name: str) -> str:
        path = self.folder / name
        return path.read_text(errors="replace")[-2000:] if path.exists() else "(no log)"

    def close(self) -> None:
        for proc in reversed(self.procs):
            stop(proc)


@contextlib.contextmanager
def cluster(folder: Path):
    running = Cluster(folder)
    try:
        yield running
    finally:
        running.close()


def python_path_without_fedlib(folder: Path) -> str:
    """A PYTHONPATH under which ``import fedlib`` fails as on a machine without it (a ``sitecustomize`` marks the
    module missing; everything else, Dask included, imports as usual)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text('import sys\nsys.modules["fedlib"] = None\n')
    return str(folder)


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802  (http.server's naming)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"a dashboard")

    do_HEAD = do_GET  # noqa: N815

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def http_server():
    """A tiny HTTP server on 127.0.0.1 (what a dashboard port is); yields its port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

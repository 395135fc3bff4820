"""Flower's own engines on this machine: a SuperLink (and SuperNodes) as processes on 127.0.0.1, driven by ``flwr run``.

Runs the Flower App of :mod:`fedlib.integrations.flower.app` the way Flower's users run theirs, on either engine:

- ``deployment``: ``flower-superlink`` and one ``flower-supernode`` per partition (``--node-config
  "partition-id=i num-partitions=N"``), then ``flwr run APP fedlib-local --stream``;
- ``simulation``: ``flower-superlink --simulation`` (Flower's simulation engine, on Ray: ``pip install
  'flwr[simulation]'``), then ``flwr run APP fedlib-local --federation-config "num-supernodes=N" --stream``.

Every wait is bounded, every process is started in its own process group and stopped by its PID (SIGTERM to the
group, SIGKILL after a grace period), and Flower's state and logs stay in a working folder (``FLWR_HOME``).

Command line (prints the run's result JSON; exit status 0 when the run finished; ``--write-app DIR`` only
writes the app, for running it with Flower's own commands)::

    python -m fedlib.integrations.flower.local --engine deployment --nodes 6 \\
        --run-config "rule='trimmed_mean' f=1 faults='4:wrong-shape 5:crash'"
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..._checks import check_choice, check_int
from ...errors import ConfigError
from .app import RUN_CONFIG

ENGINES = ("deployment", "simulation")
CONNECTION = "fedlib-local"  # the SuperLink connection's name in FLWR_HOME/config.toml


def _toml_value(value: Any) -> str:
    """A run-config value as TOML (numbers as they are, strings as basic strings, which JSON's escapes match)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(f"run-config values are numbers or strings; found {value!r}.")
    return json.dumps(value)


def write_app(directory: str | os.PathLike, name: str = "fedlib-flower-app") -> Path:
    """Write a Flower App project (a ``pyproject.toml``) whose ServerApp and ClientApp are fedlib's
    (:mod:`fedlib.integrations.flower.app`), with :data:`~fedlib.integrations.flower.app.RUN_CONFIG` as its
    run config; returns the folder. ``flwr run FOLDER ...`` runs it.

    Example:
        >>> import tempfile
        >>> from fedlib.integrations.flower.local import write_app
        >>> folder = write_app(tempfile.mkdtemp())
        >>> 'serverapp = "fedlib.integrations.flower.app:server_app"' in (folder / "pyproject.toml").read_text()
        True
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    config = "\n".join(f"{key} = {_toml_value(value)}" for key, value in RUN_CONFIG.items())
    (folder / "pyproject.toml").write_text(
        f"""[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "{name}"
version = "1.0.0"
description = "fedlib's aggregation rules and attacks in a Flower App"
license = "MIT"
# Runs where fedlib is installed (pip install 'fedlib-ndss21[flower]'): nothing to install at run time.
dependencies = []

[tool.flwr.app]
publisher = "fedlib"

[tool.flwr.app.components]
serverapp = "fedlib.integrations.flower.app:server_app"
clientapp = "fedlib.integrations.flower.app:client_app"

[tool.flwr.app.config]
{config}
"""
    )
    return folder


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 30) -> str:
    text = path.read_text(errors="replace") if path.exists() else "(no log)"
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class LocalFederation:
    """A SuperLink (and, for ``deployment``, ``num_nodes`` SuperNodes) on 127.0.0.1, as a context manager.

    Args:
        engine: ``"deployment"`` or ``"simulation"``.
        num_nodes: SuperNodes (deployment) or simulated nodes (simulation); node i holds partition i.
        workdir: folder for FLWR_HOME, the logs and the result (default: a new temporary folder).
        startup_timeout: seconds to wait for the SuperLink to answer and every SuperNode to connect.
    """

    engine: str
    num_nodes: int
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="fedlib-flower-")))
    startup_timeout: float = 120.0
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    port: int = 0

    def __post_init__(self) -> None:
        check_choice(self.engine, ENGINES, "engine")
        check_int(self.num_nodes, "num_nodes", minimum=1)
        self.workdir = Path(self.workdir)

    # -- processes
    def _bin(self, name: str) -> str:
        beside = Path(sys.executable).parent / name  # the Flower of this interpreter, even without PATH
        found = str(beside) if beside.exists() else shutil.which(name)
        if found is None:
            raise ConfigError(
                f"{name} not found beside {sys.executable} or on PATH: pip install 'fedlib-ndss21[flower]'."
            )
        return found

    def env(self) -> dict[str, str]:
        """The environment of every Flower process: FLWR_HOME in the working folder, this interpreter's Flower
        first on PATH (the SuperLink starts flwr-serverapp / flwr-simulation by name), no update check."""
        env = dict(os.environ)
        env.update(
            FLWR_HOME=str(self.workdir / "flwr-home"),
            FLWR_DISABLE_UPDATE_CHECK="1",
            PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
            PYTHONUNBUFFERED="1",
        )
        return env

    def _start(self, name: str, argv: list[str]) -> subprocess.Popen:
        with (self.workdir / f"{name}.log").open("w") as log:  # the child keeps its own descriptor
            process = subprocess.Popen(  # its own process group: stop() ends it with every child it started
                argv, stdout=log, stderr=subprocess.STDOUT, env=self.env(), cwd=self.workdir, start_new_session=True
            )
        self.processes[name] = process
        return process

    def start(self) -> LocalFederation:
        """Start the SuperLink (and the SuperNodes), waiting (bounded) until they answer."""
        home = self.workdir / "flwr-home"
        home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        (home / "config.toml").write_text(
            f'[superlink]\ndefault = "{CONNECTION}"\n\n[superlink.{CONNECTION}]\n'
            f'address = "127.0.0.1:{self.port}"\ninsecure = true\n'
        )
        argv = [self._bin("flower-superlink"), "--insecure", "--host", "127.0.0.1", "--port", str(self.port)]
        argv.append("--disable-runtime-dependency-installation")  # never pip/uv-install at run time
        self._start("superlink", argv + (["--simulation"] if self.engine == "simulation" else []))
        self._wait(self._superlink_answers, f"the SuperLink to answer on 127.0.0.1:{self.port}", "superlink")
        if self.engine == "deployment":
            for i in range(self.num_nodes):
                node_config = f"partition-id={i} num-partitions={self.num_nodes}"
                self._start(
                    f"supernode-{i}",
                    [self._bin("flower-supernode"), "--insecure", "--superlink", f"127.0.0.1:{self.port}"]
                    + ["--port", str(free_port()), "--node-config", node_config, "--max-wait-time", "60"],
                )
            for i in range(self.num_nodes):
                self._wait(lambda i=i: self.node_id(i) is not None, f"SuperNode {i} to connect", f"supernode-{i}")
        return self

    def _superlink_answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def _wait(self, ready, what: str, name: str) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while not ready():
            process = self.processes[name]
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with code {process.returncode} while waiting for {what}:\n"
                    + _tail(self.workdir / f"{name}.log")
                )
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"waited {self.startup_timeout:.0f} s for {what}:\n" + _tail(self.workdir / f"{name}.log")
                )
            time.sleep(0.5)

    def node_id(self, partition: int) -> int | None:
        """The node ID SuperNode ``partition`` got from the SuperLink (from its log), or None before it connects."""
        path = self.workdir / f"supernode-{partition}.log"
        for line in (path.read_text(errors="replace") if path.exists() else "").splitlines():
            if "SuperNode ID:" in line:
                return int(line.rsplit(":", 1)[1])
        return None

    def stop(self) -> None:
        """Stop every process this federation started, by its PID (its process group), newest first."""
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=15)
            self._reap_group(process.pid)
        self.processes.clear()

    @staticmethod
    def _reap_group(pgid: int) -> None:
        """Children of the group that outlived its leader (e.g. a ClientApp mid-round) get SIGKILL."""
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def __enter__(self) -> LocalFederation:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- a run
    def run(self, app: str | os.PathLike, run_config: dict[str, Any], *, timeout: float = 600.0) -> dict[str, Any]:
        """``flwr run APP`` with ``run_config`` on this federation, bounded by ``timeout`` seconds; returns the
        ServerApp's result (see :func:`fedlib.integrations.flower.app.result_json`) with the log under ``"log"``.
        Raises RuntimeError (with the log's end) when the run ends without a result."""
        result_file = self.workdir / f"result-{time.monotonic_ns()}.json"
        overrides = {**run_config, "num-nodes": self.num_nodes, "result-file": str(result_file)}
        config_file = self.workdir / "run-config.toml"
        config_file.write_text("".join(f"{k} = {_toml_value(v)}\n" for k, v in overrides.items()))
        argv = [self._bin("flwr"), "run", str(app), CONNECTION, "--stream", "--run-config", str(config_file)]
        if self.engine == "simulation":
            argv += ["--federation-config", f"num-supernodes={self.num_nodes}"]
        log_path = self.workdir / "flwr-run.log"
        with log_path.open("w") as log:
            process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env=self.env(), cwd=self.workdir, start_new_session=True
            )
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=15)
                raise TimeoutError(f"flwr run did not finish within {timeout:.0f} s:\n" + _tail(log_path)) from None
        log_text = log_path.read_text(errors="replace")
        if process.returncode != 0 or not result_file.exists():
            raise RuntimeError(f"flwr run ended (exit code {process.returncode}) without a result:\n" + _tail(log_path))
        result = json.loads(result_file.read_text())
        result["log"] = log_text
        if self.engine == "deployment":
            result["nodes"] = {str(self.node_id(p)): p for p in range(self.num_nodes)}
        return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fedlib.integrations.flower.local",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--engine", choices=ENGINES, default="deployment")
    parser.add_argument("--nodes", type=int, default=6, help="SuperNodes / simulated nodes (default 6)")
    parser.add_argument("--run-config", default="", help="the app's settings, e.g. \"rule='median' f=1\"")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds the run may take (default 900)")
    parser.add_argument("--workdir", default=None, help="FLWR_HOME, logs and result (default: a temporary folder)")
    parser.add_argument("--write-app", metavar="DIR", default=None, help="only write the Flower App into DIR")
    args = parser.parse_args(argv)
    if args.write_app:
        print(write_app(args.write_app) / "pyproject.toml")
        return 0
    from flwr.common.config import parse_config_args  # Flower's own parser of "key=value" run configs

    run_config = parse_config_args([args.run_config]) if args.run_config else {}
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="fedlib-flower-"))
    app = write_app(workdir / "app")
    with LocalFederation(args.engine, args.nodes, workdir=workdir) as federation:
        result = federation.run(app, run_config, timeout=args.timeout)
    result.pop("log")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover - the command line
    sys.exit(main())

"""Before a sweep uses an existing Dask cluster: is the address a scheduler, and can every worker run fedlib's code?

* :func:`scheduler_address` checks the address's form (``tcp://HOST:PORT``; ``HOST:PORT`` means tcp): a URL of
  another scheme (``http://``: the dashboard) or an address without a port is an option error.
* :func:`identify` asks whatever listens there who it is, within the timeout: a Dask scheduler answers Dask's
  handshake and says ``"Scheduler"``; an HTTP server (the dashboard's port) never sends the handshake, and a
  worker says ``"Worker"``. Each is a :class:`~fedlib.errors.ClusterError` naming what was found.
* :func:`check_workers` runs :data:`PROBE_SOURCE` on every worker (outside Dask's task queue, so it answers
  even while a shared cluster is busy): a worker that cannot import fedlib, or imports other fedlib code (another
  version, or the same version with other sources: :func:`code_fingerprint`), cannot run the sweep; one with
  another torch is named (its results may differ from this machine's in the last bits) but used.

The probe is sent as source code, not as a reference to a fedlib function: a worker without fedlib can run it
and say so, where a fedlib function would fail to unpickle there and the worker would leave the cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import functools
from typing import Any

from ..errors import ClusterError, ConfigError, InputTypeError

EARLY_LOOK = 2.0  # seconds without a Dask handshake before looking at what listens (an HTTP server: stop at once)

#: Runs on each worker (and here): what this Python imports as fedlib and torch; never raises.
PROBE_SOURCE = """
def fedlib_probe():
    import hashlib, os, sys
    out = {"python": sys.version.split()[0], "executable": sys.executable}
    try:
        import torch
        out["torch"] = torch.__version__
    except Exception as exc:
        out["torch_error"] = f"{type(exc).__name__}: {exc}"
    try:
        import fedlib
    except Exception as exc:
        out["fedlib_error"] = f"{type(exc).__name__}: {exc}"
        return out
    out["fedlib"] = getattr(fedlib, "__version__", "?")
    root = os.path.dirname(os.path.abspath(fedlib.__file__))
    out["fedlib_path"] = root
    digest = hashlib.sha256()
    for folder, dirs, files in sorted(os.walk(root)):
        dirs.sort()
        for name in sorted(f for f in files if f.endswith(".py")):
            path = os.path.join(folder, name)
            digest.update(os.path.relpath(path, root).replace(os.sep, "/").encode() + b"\\0")
            with open(path, "rb") as fh:
                digest.update(fh.read() + b"\\0")
    out["fedlib_code"] = digest.hexdigest()[:16]
    return out
"""


def _probe_function():
    # Defined in a namespace no worker can import, so cloudpickle sends the function by value (its code).
    namespace: dict[str, Any] = {"__name__": "fedlib_cluster_probe"}
    exec(PROBE_SOURCE, namespace)  # noqa: S102  (our own constant source, see PROBE_SOURCE)
    return namespace["fedlib_probe"]


@functools.lru_cache(maxsize=1)
def local_probe() -> dict[str, str]:
    """:data:`PROBE_SOURCE` run in this process (what the workers are compared with)."""
    return _probe_function()()


def code_fingerprint() -> str:
    """16 hex digits of the SHA-256 of this process's fedlib sources (every ``*.py`` file, path and bytes): two
    installs compute the same results only if they print the same fingerprint (the version string alone does not
    change between commits)."""
    return local_probe()["fedlib_code"]


# ---------------------------------------------------------------------------------------------- the address
def scheduler_address(text: Any) -> str:
    """``text`` as a Dask scheduler address ``tcp://HOST:PORT`` (``HOST:PORT`` means tcp; ``inproc://`` addresses
    of an in-process cluster pass unchanged), or :class:`~fedlib.errors.ConfigError` saying what is wrong.

    Example:
        >>> from fedlib.sweep._cluster import scheduler_address
        >>> scheduler_address("10.0.0.5:8786")
        'tcp://10.0.0.5:8786'
        >>> scheduler_address("http://10.0.0.5:8787/status")
        Traceback (most recent call last):
        fedlib.errors.ConfigError: --scheduler 'http://10.0.0.5:8787/status': expected a Dask scheduler address ...
    """
    if not isinstance(text, str):
        raise InputTypeError(f"scheduler: expected an address string like 'tcp://HOST:8786'; found {text!r}.")
    if not text.strip():
        raise ConfigError(f"--scheduler: expected an address like tcp://HOST:8786; found {text!r}.")
    address = text.strip()
    expected = f"--scheduler {text!r}: expected a Dask scheduler address tcp://HOST:PORT"
    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "tcp", address
    scheme = scheme.lower()
    if scheme == "inproc":
        return address
    if scheme != "tcp":
        hint = (
            " (the dashboard is a web page, not the scheduler: `dask scheduler` prints its address as tcp://HOST:8786)"
            if scheme in ("http", "https")
            else ""
        )
        raise ConfigError(f"{expected}; found an {scheme}:// URL{hint}.")
    host, colon, port = rest.rstrip("/").rpartition(":")
    if not colon or not host or host.endswith(":") or "]" in port:
        raise ConfigError(f"{expected}; found no port (the scheduler listens on 8786 unless started with --port).")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{expected}; found the port {port!r} (expected a number from 1 to 65535).")
    if "/" in host:
        raise ConfigError(f"{expected}; found a path in the host {host!r}.")
    return f"tcp://{host}:{int(port)}"


def scheduler_argument(text: str) -> str:
    """:func:`scheduler_address` for argparse's ``type=``: a bad address is an option error (exit status 2)."""
    try:
        return scheduler_address(text)
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err).split(": ", 1)[1]) from err


# ---------------------------------------------------------------------------------------------- who listens
def identify(address: str, timeout: float) -> dict[str, Any]:
    """The identity that the Dask server at ``address`` (``tcp://``) reports, within ``timeout`` seconds in all;
    :class:`~fedlib.errors.ClusterError` when nothing answers, something other than Dask answers, or the answer
    comes from a worker rather than a scheduler. Runs in its own thread and event loop (safe from Jupyter)."""
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="fedlib-identify") as pool:
        identity = pool.submit(asyncio.run, _identify(address, timeout)).result()
    kind = identity.get("type") if isinstance(identity, dict) else None
    if kind != "Scheduler":
        raise ClusterError(
            f"--scheduler {address}: expected a Dask scheduler there; found a Dask {kind or 'server'} "
            "(give the address that `dask scheduler` prints, e.g. tcp://HOST:8786)."
        )
    return identity


async def _identify(address: str, timeout: float) -> dict[str, Any]:
    from distributed.comm import connect

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    connecting = asyncio.ensure_future(connect(address, timeout=timeout, deserialize=True))
    try:
        done, _ = await asyncio.wait({connecting}, timeout=min(EARLY_LOOK, timeout))
        if not done:  # no Dask handshake yet: an HTTP server never sends one, so do not wait for it
            _raise_if_http(address, await _what_listens(address))
        comm = await asyncio.wait_for(connecting, max(0.1, deadline - loop.time()))
    except ClusterError:
        raise
    except (OSError, asyncio.TimeoutError) as err:
        listening = await _what_listens(address)
        _raise_if_http(address, listening)
        raise ClusterError(f"could not reach a Dask scheduler at {address} within {timeout:g} s: {listening}.") from err
    finally:
        connecting.cancel()
    try:
        await asyncio.wait_for(comm.write({"op": "identity", "reply": True}), max(0.1, deadline - loop.time()))
        return await asyncio.wait_for(comm.read(), max(0.1, deadline - loop.time()))
    except (OSError, asyncio.TimeoutError) as err:
        raise ClusterError(
            f"could not reach a Dask scheduler at {address} within {timeout:g} s: it accepted the connection but "
            f"did not answer Dask's identity request ({type(err).__name__})."
        ) from err
    finally:
        comm.abort()


def _raise_if_http(address: str, listening: str) -> None:
    if listening.startswith("an HTTP server"):
        raise ClusterError(f"--scheduler {address}: expected a Dask scheduler there; found {listening}.")


async def _what_listens(address: str) -> str:
    """What answers at ``address`` when Dask's handshake does not: nothing, an HTTP server, or something else."""
    host, port = address[len("tcp://") :].rsplit(":", 1)
    host = host.strip("[]")
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), EARLY_LOOK)
    except (OSError, asyncio.TimeoutError) as err:
        why = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        return f"nothing answers there ({why}); is `dask scheduler` running there, and is the port open?"
    try:
        writer.write(b"HEAD / HTTP/1.0\r\nHost: " + host.encode() + b"\r\n\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.read(64), EARLY_LOOK)
    except (OSError, asyncio.TimeoutError):
        head = b""
    finally:
        writer.close()
    if head.startswith(b"HTTP/"):
        return (
            f"an HTTP server ({head.splitlines()[0].decode(errors='replace')}), the dashboard's port? "
            "`dask scheduler` prints the scheduler's address as tcp://HOST:8786"
        )
    return "something that does not speak Dask's protocol (no handshake)"


# ---------------------------------------------------------------------------------------------- the workers
def probe_workers(client, timeout: float, workers: list[str] | None = None) -> dict[str, Any]:
    """Worker address → :data:`PROBE_SOURCE`'s answer (or the exception it raised), within ``timeout``."""
    try:
        # Client.run has no timeout of its own; its coroutine under the client's sync() with callback_timeout does.
        return client.sync(
            client._run, _probe_function(), workers=workers, wait=True, nanny=False, on_error="return",
            callback_timeout=timeout,
        )  # fmt: skip
    except (asyncio.TimeoutError, TimeoutError) as err:
        raise ClusterError(
            f"the workers of the Dask cluster did not answer fedlib's check within {timeout:g} s "
            f"({', '.join(workers or sorted(worker_names(client)))})."
        ) from err


def worker_problems(answers: dict[str, Any], here: dict[str, str] | None = None) -> tuple[dict[str, str], list[str]]:
    """(worker → why it cannot run this sweep, notes on usable workers that differ from this machine).

    A worker cannot run the sweep when it cannot import fedlib, or imports another version or other sources
    (:func:`code_fingerprint`); a worker with another torch version is usable but noted.

    Example:
        >>> from fedlib.sweep._cluster import worker_problems
        >>> here = {"fedlib": "0.1.0", "fedlib_code": "ab", "torch": "2.14.1", "fedlib_path": "/x"}
        >>> problems, notes = worker_problems({"tcp://w1:1": {**here, "torch": "2.13.0"},
        ...                                    "tcp://w2:1": {"fedlib_error": "No module"}}, here)
        >>> problems
        {'tcp://w2:1': 'cannot import fedlib (No module)'}
        >>> print(notes[0])
        tcp://w1:1 runs torch 2.13.0 (this machine: 2.14.1): its results may differ from this machine's in the last bits
    """
    here = here or local_probe()
    problems: dict[str, str] = {}
    notes: list[str] = []
    for worker, answer in sorted(answers.items()):
        if not isinstance(answer, dict):
            problems[worker] = f"fedlib's check failed there ({type(answer).__name__}: {answer})"
        elif "fedlib_error" in answer:
            problems[worker] = f"cannot import fedlib ({answer['fedlib_error']})"
        elif answer.get("fedlib") != here["fedlib"]:
            problems[worker] = f"runs fedlib {answer.get('fedlib')} (this machine: {here['fedlib']})"
        elif answer.get("fedlib_code") != here["fedlib_code"]:
            problems[worker] = (
                f"runs other fedlib code: fedlib {answer.get('fedlib')} at {answer.get('fedlib_path')} has other "
                f"sources (fingerprint {answer.get('fedlib_code')}; this machine's {here['fedlib_code']} at "
                f"{here['fedlib_path']})"
            )
        elif answer.get("torch") != here.get("torch"):
            notes.append(
                f"{worker} runs torch {answer.get('torch', answer.get('torch_error'))} (this machine: "
                f"{here.get('torch')}): its results may differ from this machine's in the last bits"
            )
    return problems, notes


def check_workers(client, address: str, timeout: float, workers: list[str] | None = None) -> list[str]:
    """Probe the workers (all, or ``workers``); :class:`~fedlib.errors.ClusterError` naming every worker that
    cannot run the sweep and why. Returns the notes on usable workers that differ (torch)."""
    answers = probe_workers(client, timeout, workers)
    names = worker_names(client)
    problems, notes = worker_problems({describe_worker(a, names.get(a)): answer for a, answer in answers.items()})
    if problems:
        lines = "\n".join(f"  {worker}: {why}" for worker, why in problems.items())
        raise ClusterError(
            f"the Dask cluster at {address} has {len(problems)} worker(s) that cannot run this sweep:\n{lines}\n"
            "Install this fedlib on them (the same sources: `pip install` the same commit) or stop those workers, "
            "then run the same command again."
        )
    return notes


def worker_names(client, timeout: float = 5.0) -> dict[str, str]:
    """Worker address → its name, as the scheduler knows them now; OSError if the scheduler does not answer within
    ``timeout`` seconds (the client's own call would retry for its whole connect timeout)."""
    try:
        identity = client.sync(client.scheduler.identity, n_workers=-1, callback_timeout=timeout)
    except (asyncio.TimeoutError, TimeoutError) as err:
        raise OSError(f"the Dask scheduler did not answer within {timeout:g} s") from err
    return {address: str(info.get("name", address)) for address, info in identity["workers"].items()}


def describe_worker(address: str, name: str | None) -> str:
    return address if not name or name == address else f"{address} ({name})"


__all__ = [
    "scheduler_address",
    "scheduler_argument",
    "identify",
    "check_workers",
    "worker_problems",
    "code_fingerprint",
]

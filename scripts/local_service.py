"""Drive the service from Python: run it as a real `bentoml serve` subprocess on a free loopback port
(smoke tests and benchmarks that must cover the whole HTTP stack), and turn lead tables into requests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

SERVICE = "leadscore.serving.service:LeadScoringService"
PROJECT = Path(__file__).resolve().parents[1]


def request_leads(frame: pd.DataFrame, id_column: str) -> list[dict[str, Any]]:
    """Rows of a lead table as `/score` lead objects: `id` from `id_column`, missing values as null.
    Columns the model's config does not declare must be dropped first (the service rejects unknown fields)."""
    values = frame.drop(columns=id_column).astype(object)
    values = values.where(values.notna(), None)
    return [{"id": str(i), **row} for i, row in zip(frame[id_column], values.to_dict("records"), strict=True)]


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LocalServer:
    """A running server: its base URL and the file collecting its stdout and stderr."""

    url: str
    log_path: Path

    def log(self) -> str:
        """Everything the server has written so far."""
        return self.log_path.read_text(errors="replace")


@contextmanager
def local_server(env: Mapping[str, str], log_path: Path, ready_timeout: float = 60.0) -> Iterator[LocalServer]:
    """Start `bentoml serve` on 127.0.0.1 with `env` added to this process's environment, wait for
    `/readyz`, and stop the whole process group on exit. Raises `RuntimeError` (with the log's tail)
    if the server exits or is not ready in time."""
    port = free_port()
    command = [sys.executable, "-m", "bentoml", "serve", SERVICE, "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=PROJECT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = LocalServer(f"http://127.0.0.1:{port}", log_path)
    try:
        _wait_ready(process, server, ready_timeout)
        yield server
    finally:
        _stop(process)


def wait_ready(url: str, timeout: float, alive: Callable[[], None] | None = None) -> None:
    """Poll `/readyz` until the service answers; `TimeoutError` after `timeout` seconds.

    `alive` is called between polls and may raise to stop waiting early (e.g. the server process died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None:
            alive()
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{url} not ready after {timeout:.0f}s")


def _wait_ready(process: subprocess.Popen[bytes], server: LocalServer, timeout: float) -> None:
    def alive() -> None:
        if process.poll() is not None:
            raise RuntimeError(f"bentoml serve exited with {process.returncode}:\n{server.log()[-3000:]}")

    try:
        wait_ready(server.url, timeout, alive)
    except TimeoutError:
        raise RuntimeError(f"bentoml serve not ready after {timeout:.0f}s:\n{server.log()[-3000:]}") from None


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (arbiter and workers), SIGKILL it if it lingers."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)

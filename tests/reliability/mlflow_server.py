"""A real `mlflow server` on a free local port with a sqlite backend, for fault and secret tests."""

from __future__ import annotations

import http.server
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Server:
    """A running server: its URI and process group (kill the group to kill every worker)."""

    uri: str
    port: int
    pgid: int
    log: Path

    def kill(self) -> None:
        """SIGKILL the server and its workers."""
        try:
            os.killpg(self.pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def health_stub() -> Iterator[tuple[int, list[tuple[str, str | None]]]]:
    """A server on 127.0.0.1 that answers 200 to GET; yields its port and the (path,
    Authorization header) of each request it saw."""
    seen: list[tuple[str, str | None]] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's handler name
            seen.append((self.path, self.headers.get("Authorization")))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *args) -> None:  # noqa: ANN002 - keep the test output quiet
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


def _healthy(uri: str) -> bool:
    try:
        with urllib.request.urlopen(f"{uri}/health", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


@contextmanager
def mlflow_server(
    folder: Path, env: dict[str, str], start_timeout_s: float = 240
) -> Iterator[Server]:
    """Start `mlflow server` (one worker, no job runner) in its own process group; kill it after."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    log = folder / "server.log"
    command = [
        str(Path(sys.executable).with_name("mlflow")), "server",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", f"sqlite:///{folder / 'server.db'}",
        "--artifacts-destination", str(folder / "server-artifacts"),
    ]  # fmt: skip
    # the job runner starts several worker processes: not needed to track runs
    server_env = {**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with open(log, "wb") as sink:
        proc = subprocess.Popen(
            command, cwd=folder, env=server_env, stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    server = Server(uri=uri, port=port, pgid=proc.pid, log=log)
    try:
        deadline = time.monotonic() + start_timeout_s
        while not _healthy(uri):
            if proc.poll() is not None:
                raise RuntimeError(
                    f"mlflow server exited: {log.read_text(errors='replace')[-2000:]}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server not up after {start_timeout_s} s")
            time.sleep(0.25)
        yield server
    finally:
        server.kill()
        proc.wait(timeout=30)

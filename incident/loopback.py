"""The app served by gunicorn on a free port of 127.0.0.1: the benchmark's mixed load and the write-lock test
run against real worker processes, started and stopped the same way."""
from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def gunicorn(env: dict[str, str], log: IO[str], workers: int = 4, start_within: float = 60) -> Iterator[str]:
    """Serve `incident:create_app()` with `workers` processes and the environment `env`, its output to `log`;
    yields the base URL once /login answers, and stops the server on exit."""
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "--workers", str(workers), "--bind", f"{HOST}:{port}",
         "--timeout", "60", "--log-level", "warning", "incident:create_app()"],
        env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    base = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + start_within
        while True:
            try:
                urllib.request.urlopen(base + "/login", timeout=2).close()
                break
            except OSError:  # not listening yet (URLError, refused), or still booting (timed out)
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"gunicorn did not start (its output: {log.name})") from None
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(15)

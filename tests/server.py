"""Run the real `feedsvc serve` on a free loopback port, for tests and benchmarks."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote


def feedsvc(*args: str) -> list[str]:
    """The `feedsvc` command line, run with this interpreter."""
    return [sys.executable, "-m", "feedsvc.cli", *args]


def without_root_powers(command: list[str]) -> list[str] | None:
    """The command, run so that file permissions bind it: as root, without the
    capabilities that let root read and write anyone's files. None when that cannot
    be done here (root without setpriv)."""
    if os.geteuid() != 0:
        return command
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search", *command]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def request(port: int, path: str, method: str = "GET", headers: dict | None = None) -> Reply:
    """One request to a server on a loopback port, on a connection of its own."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, quote(path, safe="/%?=&"), headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
    finally:
        conn.close()


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log: Path

    def request(self, path: str, method: str = "GET", headers: dict | None = None) -> Reply:
        return request(self.port, path, method, headers)

    def entries(self, path: str) -> list:
        """The feed's entries as feedparser reads them (none unless it answers 200);
        a feed it cannot read fails the test."""
        import feedparser

        reply = self.request(path)
        if reply.status != 200:
            return []
        parsed = feedparser.parse(reply.body)
        assert not parsed.bozo, parsed.get("bozo_exception")
        return list(parsed.entries)

    def wait_whole(self, timeout: float) -> None:
        """Until the whole site is built: the article pages a cold start builds after
        its feeds, or the new site after a change of settings."""
        deadline = time.monotonic() + timeout
        while not _whole(self.request("/healthz")):
            if self.process.poll() is not None:
                raise RuntimeError(f"feedsvc serve exited: {self.log.read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"feedsvc serve was not whole in {timeout} s")
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)


def start(
    config: Path,
    port: int | None = None,
    timeout: float = 30,
    command: list[str] | None = None,
    args: tuple[str, ...] = (),
    cwd: Path | None = None,
    whole: bool = True,
) -> Server:
    """`command`: what runs `feedsvc serve` (default: the real command line); `args`:
    more options for serve; `cwd`: where it runs (default: the config's folder);
    `whole`: wait for the article pages too (a cold start serves its feeds first), and
    for the new site after a change of settings (the saved one is served meanwhile)."""
    port = port or free_port()
    log = config.parent / f"serve-{port}.log"
    if "[dashboard]" not in config.read_text() and "--dashboard-port" not in args:
        args = (*args, "--dashboard-port", "0")  # tests run servers side by side
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [*(command or feedsvc()), "serve", "--config", str(config), "--port", str(port), *args],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env=env,
        cwd=cwd or config.parent,
    )
    server = Server(process, port, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"feedsvc serve exited: {log.read_text()}")
        try:
            health = server.request("/healthz")
            if health.status == 200 and (not whole or _whole(health)):
                return server
        except OSError:
            pass
        time.sleep(0.05)
    server.stop(signal.SIGKILL)
    raise RuntimeError(f"feedsvc serve did not answer in {timeout} s: {log.read_text()}")


def _whole(health: Reply) -> bool:
    """/healthz says the site is whole: its pages built, no rebuild under way, the
    folder compared with the saved site a restart serves first."""
    state = json.loads(health.body) if health.status == 200 else None
    return (
        state is not None
        and state["pages"] == "ready"
        and not state["rebuilding"]
        and not state["checking"]
    )

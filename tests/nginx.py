"""Real nginx on a loopback port, serving a folder with the README's server block."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.server import Reply, free_port, request

SERVER_BLOCK = Path(__file__).resolve().parent.parent / "docs" / "nginx.conf"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx",) if os.access(path, os.X_OK)), None
    )


@dataclass
class Nginx:
    process: subprocess.Popen
    port: int
    log: Path

    def request(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        return request(self.port, path, headers=headers)

    def reopen_logs(self) -> None:
        """As logrotate asks after moving the log: nginx opens a new file."""
        self.process.send_signal(signal.SIGUSR1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_nginx(
    binary: str, root: Path, work: Path, workers: str = "1", access_log: Path | None = None
) -> Nginx:
    """nginx in the foreground; everything it writes stays under `work`. `workers`:
    worker_processes (benchmarks use "auto", one per core); `access_log`: where nginx
    logs every request in its combined format (off without)."""
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    block = SERVER_BLOCK.read_text()
    block = block.replace("listen 80;", f"listen 127.0.0.1:{port};")
    block = block.replace("root /srv/feedsvc/mirror;", f"root {root};")
    temporary = "\n".join(
        f"    {kind}_temp_path {work / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # As root, workers would drop to nobody, who cannot read a test's private folder.
    user = "user root;\n" if os.geteuid() == 0 else ""
    (work / "nginx.conf").write_text(
        f"{user}daemon off;\nworker_processes {workers};\npid {work / 'nginx.pid'};\n"
        f"error_log {work / 'error.log'};\nevents {{ worker_connections 256; }}\n"
        f"http {{\n    access_log {access_log or 'off'};\n{temporary}\n{block}\n}}\n"
    )
    log = work / "stderr.log"
    process = subprocess.Popen(
        [binary, "-p", str(work), "-e", str(work / "error.log"), "-c", str(work / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    server = Nginx(process, port, log)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            errors = (work / "error.log").read_text() if (work / "error.log").exists() else ""
            raise RuntimeError(f"nginx exited: {log.read_text()} {errors}")
        try:
            server.request("/robots.txt")
            return server
        except OSError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError("nginx did not answer in 20 s")

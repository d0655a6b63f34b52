import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# Test workers share the cores: an embedded llama.cpp server with a thread per core, beside another worker's, waits on
# its own descheduled threads at every layer (minutes a reply instead of seconds), so each gets its share of the cores.
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
os.environ.setdefault("FOUNDRY_EMBEDDED_THREADS", str(max(1, (os.cpu_count() or 1) // _workers)))


@pytest.fixture(scope="session")
def embedded_server_url(tmp_path_factory) -> str:
    """One real embedded llama.cpp server for the tests that talk to an already running endpoint."""
    from generators.teachers.embedded import (
        EmbeddedServer,  # imported here: the vLLM test environment has no llama.cpp
    )

    root = tmp_path_factory.mktemp("embedded")
    server = EmbeddedServer(root / "models", root / "logs")
    url = server.start()
    yield url
    server.stop()

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


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

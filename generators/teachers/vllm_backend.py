"""The in-process vLLM backend: offline batch generation with ``vllm.LLM`` on a GPU (optional extra ``[vllm]``).

Requests for the same prompt and parameters that miss the cache are sent as one ``SamplingParams(n=...)`` request;
prefix caching is on, so shared few-shot prefixes are computed once.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from generators.teachers.backend import GenerationRequest, GenerationResult, GenerationStats, ProgressFn
from generators.teachers.cache import ResponseCache, request_key


class VLLMBackend:
    """``vllm.LLM`` in this process; same requests, results, cache and accounting as the OpenAI-compatible backend."""

    backend = "vllm"

    def __init__(
        self, model: str, cache: ResponseCache, chat: bool = False, llm: Any | None = None, **engine_args: Any
    ) -> None:
        self.model = model
        self.chat = chat
        self.cache = cache
        if llm is None:
            from vllm import LLM

            llm = LLM(model=model, enable_prefix_caching=True, **engine_args)
        self.llm = llm

    def generate(
        self, requests: Sequence[GenerationRequest], progress: ProgressFn | None = None
    ) -> tuple[list[GenerationResult], GenerationStats]:
        from vllm import SamplingParams as VLLMSamplingParams

        started = time.monotonic()
        stats = GenerationStats()
        results: list[GenerationResult | None] = [None] * len(requests)
        keys = [request_key(r.payload(self.model)) for r in requests]
        groups: dict[tuple, list[int]] = defaultdict(list)
        for index, (request, key) in enumerate(zip(requests, keys, strict=True)):
            hit = self.cache.get(key)
            if hit is not None:
                results[index] = GenerationResult(**hit, cached=True)
            else:
                groups[(request.prompt, request.messages, request.params)].append(index)
        batches = list(groups.items())
        sampling = []
        for (_, _, params), indexes in batches:
            sample_seed = params.seed * 10_007 + min(requests[i].sample_index for i in indexes)
            sampling.append(
                VLLMSamplingParams(
                    n=len(indexes),
                    temperature=params.temperature,
                    top_p=params.top_p,
                    max_tokens=params.max_tokens,
                    stop=list(params.stop) or None,
                    seed=sample_seed,
                )
            )
        if batches:
            if self.chat:
                conversations = [[{"role": r, "content": c} for r, c in key[1]] for key, _ in batches]
                outputs = self.llm.chat(conversations, sampling, use_tqdm=False)
            else:
                outputs = self.llm.generate([key[0] for key, _ in batches], sampling, use_tqdm=False)
            for (_, indexes), output in zip(batches, outputs, strict=True):
                for index, completion in zip(indexes, output.outputs, strict=True):
                    result = GenerationResult(
                        text=completion.text,
                        finish_reason=completion.finish_reason,
                        prompt_tokens=len(output.prompt_token_ids or []),
                        completion_tokens=len(completion.token_ids),
                        cached=False,
                    )
                    self.cache.put(keys[index], result.cache_record())
                    results[index] = result
        for request, result in zip(requests, results, strict=True):
            result.metadata = dict(request.metadata)
            stats.add(result)
        stats.wall_s = time.monotonic() - started
        if progress:
            progress(stats.requests, len(requests), stats)
        return [r for r in results if r is not None], stats

"""Teacher throughput on the embedded llama.cpp server: our generator against a bare asyncio `openai` loop.

Both send the same completion requests (same prompts, parameters and seeds) at the same concurrency, measured in the
same run, alternating; then our generator reruns the same requests on its warm cache. The last line is
``ratio_vs_bare_client=<x> warm_rerun_fraction=<y>`` (goal: ratio >= 0.95, fraction <= 0.02).
"""

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import openai

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generators.problems.procedural import generate_problems
from generators.tasks.prompts import COT_STOP, cot_prompt
from generators.teachers.backend import GenerationRequest, SamplingParams
from generators.teachers.cache import ResponseCache
from generators.teachers.embedded import EMBEDDED_MODEL, EmbeddedServer
from generators.teachers.openai_backend import OpenAICompatibleBackend


def make_requests(count: int, seed: int) -> list[GenerationRequest]:
    params = SamplingParams(temperature=0.7, max_tokens=48, stop=COT_STOP, seed=seed)
    problems = generate_problems(count, seed=seed, min_steps=1, max_steps=3)["problem"]
    return [GenerationRequest(params, prompt=cot_prompt(p, chat=False).prompt) for p in problems]


async def bare_client(url: str, requests: list[GenerationRequest], concurrency: int) -> tuple[int, float]:
    """The baseline: a plain asyncio loop over the `openai` client with a semaphore, no cache, no accounting."""
    client = openai.AsyncOpenAI(base_url=url, api_key="none")
    semaphore = asyncio.Semaphore(concurrency)

    async def one(request: GenerationRequest) -> int:
        p = request.params
        async with semaphore:
            reply = await client.completions.create(
                model=EMBEDDED_MODEL, prompt=request.prompt, temperature=p.temperature, top_p=p.top_p,
                max_tokens=p.max_tokens, stop=list(p.stop), seed=p.seed * 10_007 + request.sample_index,
            )  # fmt: skip
        return reply.usage.completion_tokens

    started = time.monotonic()
    tokens = sum(await asyncio.gather(*(one(r) for r in requests)))
    elapsed = time.monotonic() - started
    await client.close()
    return tokens, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="6 requests, 1 round (under a minute)")
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    count, rounds = (6, 1) if args.quick else (args.requests, args.rounds)
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedServer(Path(tmp) / "models", Path(tmp) / "logs")
        url = server.start()
        try:
            bare_rate, ours_rate, cold, warm = [], [], 0.0, 0.0
            asyncio.run(bare_client(url, make_requests(2, seed=999), args.concurrency))  # warm-up
            for round_number in range(rounds):
                requests = make_requests(count, seed=round_number)
                tokens, elapsed = asyncio.run(bare_client(url, requests, args.concurrency))
                bare_rate.append(tokens / elapsed)
                cache = ResponseCache(Path(tmp) / f"cache-{round_number}.sqlite")
                backend = OpenAICompatibleBackend([url], EMBEDDED_MODEL, cache, max_concurrency=args.concurrency)
                _, stats = backend.generate(requests)
                ours_rate.append(stats.completion_tokens / stats.wall_s)
                cold += stats.wall_s
                started = time.monotonic()
                _, rerun = backend.generate(requests)
                warm += time.monotonic() - started
                assert rerun.cache_hits == count, "the warm rerun made requests"
                print(
                    f"round {round_number}: bare {bare_rate[-1]:.1f} tok/s, ours {ours_rate[-1]:.1f} tok/s, "
                    f"cold {stats.wall_s:.2f} s, warm rerun {rerun.wall_s:.3f} s "
                    f"({count} requests, {stats.completion_tokens} tokens)"
                )
        finally:
            server.stop()
    ratio = sum(ours_rate) / sum(bare_rate)
    print(f"ratio_vs_bare_client={ratio:.3f} warm_rerun_fraction={warm / cold:.4f}")


if __name__ == "__main__":
    main()

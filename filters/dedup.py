"""Deduplication: exact (normalized-text hash) and near-duplicate MinHash through datatrove's pipeline."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import struct
import tempfile
from collections.abc import Sequence

import numpy as np
import polars as pl
from datatrove.data import Document
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup.minhash import (
    MinhashConfig,
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
from datatrove.utils.text import TextNormConfig
from datatrove.utils.word_tokenizers import WordTokenizer

from filters.contract import Drop, Filter
from filters.ray_workers import free_cpus, in_ray_job, init_ray
from filters.schemas import reasons
from filters.text import NUMBER, fold

DUPLICATE_REASONS = reasons(
    __name__, *(f"{way}_duplicate_{label}" for way in ("exact", "near", "semantic") for label in ("problem", "text"))
)
_SPACE = re.compile(r"\s+")


class WhitespaceTokenizer(WordTokenizer):
    """Words split on white space: the same tokens as spaCy on plain English, about 5x faster for signatures."""

    def __init__(self) -> None:
        super().__init__("en")

    def word_tokenize(self, text: str) -> list[str]:
        return text.split()

    def sent_tokenize(self, text: str) -> list[str]:
        return [text]

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return [(0, len(text))]


def normalize_text(text: str) -> str:
    """Folded (``filters.text.fold``), lowercased, white space collapsed: what the exact-dedup hash sees."""
    return _SPACE.sub(" ", fold(text).lower()).strip()


def exact_duplicates(texts: Sequence[str]) -> list[int | None]:
    """For each text, the index of an earlier text with the same normalized hash, or None where it is the first."""
    first: dict[str, int] = {}
    out: list[int | None] = []
    for index, text in enumerate(texts):
        digest = hashlib.sha256(normalize_text(text).encode()).hexdigest()
        out.append(first.get(digest))
        first.setdefault(digest, index)
    return out


def minhash_config(n_grams: int = 5, num_buckets: int = 14, hashes_per_bucket: int = 8) -> MinhashConfig:
    """MinHash settings that keep numbers: problems that differ only in their numbers are not near-duplicates."""
    return MinhashConfig(
        n_grams=n_grams,
        num_buckets=num_buckets,
        hashes_per_bucket=hashes_per_bucket,
        norm_config=TextNormConfig(norm_numbers=False),
    )


class MinhashSigner:
    """MinHash signatures with datatrove's own code (shingles, permutations, buckets), each distinct text's computed
    once: the in-batch clustering and the dedup index of later batches read the same signatures."""

    def __init__(self, config: MinhashConfig | None = None, tokenizer: WordTokenizer | str | None = None) -> None:
        self.config = config or minhash_config()
        self._signer = MinhashDedupSignature(
            tempfile.gettempdir(), config=self.config, language=tokenizer or WhitespaceTokenizer()
        )
        self._memo: dict[bytes, np.ndarray | None] = {}
        self.computed = 0

    def signature(self, text: str) -> np.ndarray | None:
        """The (buckets x hashes per bucket) signature of ``text``; None where it is shorter than the n-gram size."""
        key = hashlib.blake2b(text.encode(), digest_size=16).digest()
        if key not in self._memo:
            shingles = self._signer.get_shingles(text)
            self._memo[key] = np.asarray(self._signer.get_signature(shingles)) if shingles.size else None
            self.computed += 1
        return self._memo[key]

    def write_datatrove_signatures(self, texts: Sequence[str], folder: str) -> None:
        """``texts``' signatures as datatrove's signature stage writes them (one file per bucket, one record per
        document with a signature: its hashes and index), so that stage can skip computing them."""
        record = f"<{self.config.hashes_per_bucket}{self.config.hash_config.struct_format}I"
        signatures = [(index, self.signature(text)) for index, text in enumerate(texts)]
        for bucket in range(self.config.num_buckets):
            os.makedirs(f"{folder}/bucket_{bucket:03d}", exist_ok=True)
            with open(f"{folder}/bucket_{bucket:03d}/00000.minhash.sig", "wb") as handle:
                for index, signature in signatures:
                    if signature is not None:
                        handle.write(struct.pack(record, *signature[bucket].tolist(), index))


def _cluster_only(writer: object, doc: Document) -> dict:
    """What the filter stage writes per document: its id and cluster, not its text."""
    return {"id": doc.id, "cluster": doc.metadata.get("minhash_cluster_id", -1)}


def _run_stages(stages: list[tuple[list, int]], root: str, executor: str, workers: int) -> None:
    """Run datatrove pipelines one after another on the local or the Ray executor; each entry is (steps, tasks)."""
    for number, (pipeline, tasks) in enumerate(stages):
        logs = f"{root}/logs{number}"
        if executor == "ray":
            from datatrove.executor import RayPipelineExecutor

            RayPipelineExecutor(
                pipeline, tasks=tasks, workers=workers, cpus_per_task=1, mem_per_cpu_gb=1, logging_dir=logs,
                skip_completed=False, tasks_per_job=max(1, tasks // max(workers, 1)),
            ).run()  # fmt: skip
        else:
            LocalPipelineExecutor(
                pipeline, tasks=tasks, workers=min(workers, tasks), logging_dir=logs, skip_completed=False
            ).run()


def dedup_executor(wanted: str) -> str:
    """Where the MinHash stages run for the ``executor`` setting ``wanted``: ``auto`` is ``ray`` in a step on a Ray
    cluster with a CPU free (the step's own cluster), else ``local``."""
    if wanted != "auto":
        return wanted
    if not in_ray_job():
        return "local"
    init_ray()
    return "ray" if free_cpus() >= 1 else "local"


def minhash_clusters(
    texts: Sequence[str],
    config: MinhashConfig | None = None,
    work_dir: str | None = None,
    executor: str = "local",
    workers: int = 1,
    tokenizer: WordTokenizer | str | None = None,
    signer: MinhashSigner | None = None,
) -> list[int]:
    """Per text, the id of its datatrove MinHash near-duplicate cluster (-1 where it has no near-duplicate).

    The four datatrove stages (signatures, buckets, clusters, filter) run on ``executor``: ``local`` (datatrove's
    LocalPipelineExecutor) or ``ray`` (its RayPipelineExecutor, on $RAY_ADDRESS or a local Ray instance). Words
    are split on white space unless ``tokenizer`` names another (datatrove's default is its "en" tokenizer).
    Signatures come from ``signer`` (one is made from ``config`` and ``tokenizer`` where none is given): written in
    datatrove's format, the signature stage only sorts them.
    """
    if executor not in {"local", "ray"}:
        raise ValueError(f"unknown dedup executor {executor!r}: use 'local' or 'ray'")
    config = config or minhash_config()
    if len(texts) < 2:
        return [-1] * len(texts)
    if executor == "ray":
        init_ray()
    with tempfile.TemporaryDirectory(dir=work_dir) as root:
        with open(f"{root}/input.jsonl", "w") as handle:
            for index, text in enumerate(texts):
                handle.write(json.dumps({"id": str(index), "text": text}) + "\n")

        def reader() -> JsonlReader:
            return JsonlReader(root, glob_pattern="input.jsonl", recursive=False)

        def writer(name: str) -> JsonlWriter:
            return JsonlWriter(f"{root}/{name}", compression=None, adapter=_cluster_only)

        signer = signer or MinhashSigner(config, tokenizer)
        config = signer.config  # the buckets and clusters read the signatures as they were made
        signer.write_datatrove_signatures(texts, f"{root}/sigs")
        signature = MinhashDedupSignature(f"{root}/sigs", config=config, skip_existing_sigs=True)
        keep_one = MinhashDedupFilter(f"{root}/remove", exclusion_writer=writer("removed"), load_cluster_ids=True)
        _run_stages(
            [
                ([reader(), signature], 1),
                ([MinhashDedupBuckets(f"{root}/sigs", f"{root}/buckets", config=config)], config.num_buckets),
                ([MinhashDedupCluster(f"{root}/buckets", f"{root}/remove", config=config, save_cluster_id=True)], 1),
                ([reader(), keep_one, writer("kept")], 1),
            ],
            root,
            executor,
            workers,
        )
        clusters: dict[int, int] = {}
        for output in ("kept", "removed"):
            for path in glob.glob(f"{root}/{output}/*.jsonl"):
                with open(path) as handle:
                    for line in handle:
                        doc = json.loads(line)
                        clusters[int(doc["id"])] = doc["cluster"]
    return [clusters[i] for i in range(len(texts))]


def minhash_duplicates(
    texts: Sequence[str],
    config: MinhashConfig | None = None,
    work_dir: str | None = None,
    executor: str = "local",
    workers: int = 1,
    signer: MinhashSigner | None = None,
) -> set[int]:
    """Indexes of near-duplicates to remove: a later text in the same MinHash cluster with the same numbers.

    Texts that differ only in their numbers are distinct problems, so a cluster keeps one text per number sequence.
    """
    seen: set[tuple[int, tuple[str, ...]]] = set()
    removed = set()
    clusters = minhash_clusters(texts, config, work_dir, executor, workers, signer=signer)
    for index, (text, cluster) in enumerate(zip(texts, clusters, strict=True)):
        if cluster < 0:
            continue
        signature = (cluster, tuple(NUMBER.findall(text)))
        if signature in seen:
            removed.add(index)
        seen.add(signature)
    return removed


def duplicate_decisions(
    texts: Sequence[str],
    label: str,
    config: MinhashConfig | None = None,
    executor: str = "local",
    workers: int = 1,
    semantic_threshold: float | None = None,
    signer: MinhashSigner | None = None,
    work_dir: str | None = None,
) -> list[Drop | None]:
    """Per text: an exact repeat of an earlier one, then a MinHash near-duplicate of a survivor, then (with a
    ``semantic_threshold``) a paraphrase by sentence-embedding similarity; None for a first occurrence. The MinHash
    stages' files go under ``work_dir`` (default: the system's temporary folder; on Ray, storage every node sees)."""
    decisions: list[Drop | None] = [
        Drop(f"exact_duplicate_{label}") if e is not None else None for e in exact_duplicates(texts)
    ]
    survivors = [i for i, d in enumerate(decisions) if d is None]
    kept = [texts[i] for i in survivors]
    near = minhash_duplicates(kept, config, work_dir, executor=executor, workers=workers, signer=signer)
    for position in near:
        decisions[survivors[position]] = Drop(f"near_duplicate_{label}")
    if semantic_threshold is not None:
        from filters.semantic import semantic_duplicates

        survivors = [i for i, d in enumerate(decisions) if d is None]
        matches = semantic_duplicates([texts[i] for i in survivors], semantic_threshold)
        for position, match in zip(survivors, matches, strict=True):
            if match is not None:
                decisions[position] = Drop(f"semantic_duplicate_{label}")
    return decisions


class Dedup(Filter):
    """Dedup generated rows (``problem_id``, ``problem``, ``text``) within a batch: problems first, one per problem id,
    so every sample of a duplicate problem goes (paraphrased problems too, with a ``semantic_threshold``); then the
    generated texts of the rows left."""

    name = "deduplicated"

    def __init__(
        self,
        config: MinhashConfig | None = None,
        executor: str = "local",
        workers: int = 1,
        semantic_threshold: float | None = None,
        signer: MinhashSigner | None = None,
        work_dir: str | None = None,
    ) -> None:
        """``signer``: the MinHash signatures, shared with the dedup index (one is made from ``config`` if none);
        ``work_dir``: where the MinHash stages write (see ``duplicate_decisions``)."""
        self.config, self.executor, self.workers, self.semantic_threshold = (
            config,
            executor,
            workers,
            semantic_threshold,
        )
        self.work_dir = work_dir
        self.signer = signer or MinhashSigner(config)
        self.duplicate_problems = 0

    def reads(self) -> Sequence[str]:
        return ("problem_id", "problem", "text")

    def decide(self, frame: pl.DataFrame) -> list[Drop | None]:
        problems = frame.filter(pl.col("problem_id").is_not_null()).unique("problem_id", maintain_order=True)
        by_problem = duplicate_decisions(
            problems["problem"].to_list(), "problem", self.config, self.executor, self.workers,
            self.semantic_threshold, self.signer, self.work_dir,
        )  # fmt: skip
        drop_of = {p: d for p, d in zip(problems["problem_id"], by_problem, strict=True) if d is not None}
        self.duplicate_problems = len(drop_of)
        decisions = [drop_of.get(p) for p in frame["problem_id"]]
        survivors = [i for i, d in enumerate(decisions) if d is None]
        texts = frame["text"].to_list()
        by_text = duplicate_decisions(
            [texts[i] for i in survivors], "text", self.config, self.executor, self.workers, signer=self.signer,
            work_dir=self.work_dir,
        )  # fmt: skip
        for position, decision in zip(survivors, by_text, strict=True):
            decisions[position] = decision
        return decisions

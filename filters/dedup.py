"""Deduplication: exact (normalized-text hash) and near-duplicate MinHash through datatrove's pipeline."""

from __future__ import annotations

import hashlib
import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterator, Sequence

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
from datatrove.utils.text import TextNormConfig
from datatrove.utils.word_tokenizers import WordTokenizer

from filters.contract import FilterResult, split_by_reason

_SPACE = re.compile(r"\s+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


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
    """Lowercase, NFKC, collapsed white space: what the exact-dedup hash sees."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


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


class _ClusterCollector:
    """Stands in for datatrove's exclusion writer: reports each document the filter removes to ``record``.

    The executor deep-copies its pipeline; a plain function survives that by reference, a dict would not.
    """

    def __init__(self, record: Callable[[Document], None]) -> None:
        self.record = record

    def __enter__(self) -> _ClusterCollector:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def write(self, doc: Document, rank: int = 0) -> None:
        self.record(doc)


def minhash_clusters(
    texts: Sequence[str], config: MinhashConfig | None = None, work_dir: str | None = None
) -> list[int]:
    """Per text, the id of its datatrove MinHash near-duplicate cluster (-1 where it has no near-duplicate)."""
    config = config or minhash_config()
    clusters: dict[int, int] = {}
    if len(texts) < 2:
        return [-1] * len(texts)

    def documents(data: object, rank: int = 0, world_size: int = 1) -> Iterator[Document]:
        for index, text in enumerate(texts):
            yield Document(text=text, id=str(index))

    def record(doc: Document) -> None:
        clusters[int(doc.id)] = doc.metadata.get("minhash_cluster_id", -1)  # no .remove file: no clusters

    def collect(data: Iterator[Document], rank: int = 0, world_size: int = 1) -> Iterator[Document]:
        for doc in data:
            record(doc)
            yield doc

    with tempfile.TemporaryDirectory(dir=work_dir) as root:
        stages = [
            [documents, MinhashDedupSignature(f"{root}/sigs", config=config, language=WhitespaceTokenizer())],
            [MinhashDedupBuckets(f"{root}/sigs", f"{root}/buckets", config=config)],
            [MinhashDedupCluster(f"{root}/buckets", f"{root}/remove", config=config, save_cluster_id=True)],
            [
                documents,
                MinhashDedupFilter(
                    f"{root}/remove", exclusion_writer=_ClusterCollector(record), load_cluster_ids=True
                ),
                collect,
            ],
        ]
        for number, pipeline in enumerate(stages):
            LocalPipelineExecutor(
                pipeline,
                tasks=config.num_buckets if number == 1 else 1,
                workers=1,
                logging_dir=f"{root}/logs{number}",
                skip_completed=False,
            ).run()
    return [clusters[i] for i in range(len(texts))]


def minhash_duplicates(
    texts: Sequence[str], config: MinhashConfig | None = None, work_dir: str | None = None
) -> set[int]:
    """Indexes of near-duplicates to remove: a later text in the same MinHash cluster with the same numbers.

    Texts that differ only in their numbers are distinct problems, so a cluster keeps one text per number sequence.
    """
    seen: set[tuple[int, tuple[str, ...]]] = set()
    removed = set()
    for index, (text, cluster) in enumerate(zip(texts, minhash_clusters(texts, config, work_dir), strict=True)):
        if cluster < 0:
            continue
        signature = (cluster, tuple(_NUMBER.findall(text)))
        if signature in seen:
            removed.add(index)
        seen.add(signature)
    return removed


def dedup_frame(frame: pl.DataFrame, column: str, label: str, config: MinhashConfig | None = None) -> FilterResult:
    """Drop rows whose ``column`` repeats an earlier row exactly, then near-duplicates by MinHash."""
    texts = frame[column].to_list()
    exact = exact_duplicates(texts)
    reasons: list[str | None] = [f"exact_duplicate_{label}" if e is not None else None for e in exact]
    survivors = [i for i, r in enumerate(reasons) if r is None]
    for position in minhash_duplicates([texts[i] for i in survivors], config):
        reasons[survivors[position]] = f"near_duplicate_{label}"
    return split_by_reason(frame, reasons)

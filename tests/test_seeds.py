import hashlib
import json
from pathlib import Path

import pytest

from assets.resources import ParquetIOManager
from generators.problems.seeds import (
    SeedFileError,
    load_seed_problems,
    normalize_answer,
    seed_problem_id,
    worked_solution,
)
from tests.data import GSM8K_TRAIN


def test_gsm8k_train_loads_with_normalized_answers() -> None:
    frame = load_seed_problems(str(GSM8K_TRAIN.resolve()))
    assert frame.height == 7473
    assert set(frame["source"]) == {GSM8K_TRAIN.name}  # the file's name: no local path reaches a published row
    assert frame["problem_id"].n_unique() == 7473
    assert frame["answer"].str.contains(r"^-?[\d.]+$").all()
    assert frame["answer"][0] == "72"  # Natalia's clips: "#### 72"
    solution = json.loads(frame["spec"][0])["solution"]  # the worked solution, the reference of a wrong answer
    assert solution.startswith("Natalia sold 48/2 = <<48/2=24>>24 clips in May.") and solution.endswith("#### 72")


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
    assert (worked_solution(raw) is not None) == (raw not in ("#### 1,234", "Paris"))  # no working: a bare answer


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
        (
            "array.json",
            b'[{"question": "a?", "answer": "#### 1"}, 3]',
            r"array.json: element 2: expected a JSON object",
        ),
        (
            "huge.jsonl",
            b'{"question": "' + b"word " * 1_000_000 + b'?", "answer": "#### 1"}\n',
            r"huge.jsonl: line 1: longer than 1,048,576 bytes",
        ),
        (
            "long.jsonl",
            b'{"question": "' + b"word " * 6_000 + b'?", "answer": "#### 1"}\n',
            r"long.jsonl: line 1: field 'question' holds 30,001 characters \(at most 20,000",
        ),
    ],
)
def test_bad_seed_files_name_file_line_and_field(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SeedFileError, match=message):
        load_seed_problems(str(path))


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("bom.jsonl", b'\xef\xbb\xbf{"question": "a?", "answer": "#### 1"}\n{"question": "b?", "answer": "#### 2"}\n'),
        ("array.json", b'[{"question": "a?", "answer": "#### 1"}, {"question": "b?", "answer": "#### 2"}]'),
        (
            "bom_array.json",
            b'\xef\xbb\xbf [{"question": "a?", "answer": "#### 1"}, {"question": "b?", "answer": "#### 2"}]',
        ),
    ],
)
def test_a_byte_order_mark_and_a_json_array_are_read(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    frame = load_seed_problems(str(path))
    assert frame["problem"].to_list() == ["a?", "b?"] and frame["answer"].to_list() == ["1", "2"]


def test_a_directory_named_like_a_seed_file_is_named_as_such(tmp_path: Path) -> None:
    (tmp_path / "x.jsonl").mkdir()
    with pytest.raises(SeedFileError, match=r"x.jsonl: is a directory, not a seed file"):
        load_seed_problems(str(tmp_path / "x.jsonl"))


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


@pytest.mark.slow
def test_each_source_is_sliced_on_its_own_and_an_exhausted_one_fails(tmp_path: Path) -> None:
    """A new seed file starts at its first row however many batches ran before; a rerun keeps its slice; a source
    with nothing left fails the batch instead of silently adding nothing; rows added anywhere are read next."""
    import dagster as dg

    import definitions

    def source(name: str, rows: int) -> str:
        path = tmp_path / f"{name}.jsonl"
        path.write_text(
            "".join(json.dumps({"question": f"{name} q{i}?", "answer": f"#### {i}"}) + "\n" for i in range(rows))
        )
        return str(path)

    a, b = source("a", 5), source("b", 3)

    def run(instance: dg.DagsterInstance, batch: str, sources: list[str]) -> dg.ExecuteInProcessResult:
        instance.add_dynamic_partitions("batch", [batch])
        return dg.materialize(
            [definitions.problems.seed_problems],
            resources={"io_manager": ParquetIOManager(base_path=str(tmp_path / "assets"))},
            run_config={"ops": {"seed_problems": {"config": {"sources": sources, "limit_per_source": 2}}}},
            instance=instance,
            partition_key=batch,
            raise_on_error=False,
        )

    def questions(result: dg.ExecuteInProcessResult) -> list[str]:
        return result.output_for_node("seed_problems")["problem"].to_list()

    with dg.instance_for_test() as instance:
        for warmup in ("w1", "w2", "w3"):  # batches without seed files: they take no slice of anything
            assert run(instance, warmup, []).success
        assert questions(run(instance, "b1", [a])) == ["a q0?", "a q1?"]
        assert questions(run(instance, "b2", [a, b])) == ["a q2?", "a q3?", "b q0?", "b q1?"]
        assert questions(run(instance, "b2", [a, b])) == ["a q2?", "a q3?", "b q0?", "b q1?"]  # a rerun
        assert questions(run(instance, "b3", [a])) == ["a q4?"]
        exhausted = run(instance, "b4", [a])
        assert not exhausted.success
        message = str(exhausted.get_step_failure_events()[0].event_specific_data.error)
        assert f"seed source {a}: no rows left (earlier batches read every row)" in message
        lines = Path(a).read_text().splitlines(keepends=True)  # rows added at the top and in the middle: read next
        added = [json.dumps({"question": q, "answer": "#### 7"}) + "\n" for q in ("top?", "middle?")]
        Path(a).write_text("".join([added[0], *lines[:2], added[1], *lines[2:]]))
        assert questions(run(instance, "b5", [a])) == ["top?", "middle?"]
        with Path(a).open("a") as handle:
            handle.write(json.dumps({"question": "end?", "answer": "#### 8"}) + "\n")
        (tmp_path / "sub").mkdir()
        assert questions(run(instance, "b6", [str(tmp_path / "sub" / ".." / "a.jsonl")])) == ["end?"]  # typed anew
        renamed = tmp_path / "renamed.jsonl"
        renamed.write_bytes(Path(a).read_bytes())
        assert not run(instance, "b7", [str(renamed)]).success  # a file moved or renamed: its rows were read


def test_every_seed_line_is_checked_a_line_at_a_time(tmp_path: Path) -> None:
    """A batch that takes the first rows still checks the rest, so a bad line further on is named now rather than by
    a batch weeks later; lines are read one at a time, and an overlong one is refused where it is met, unread."""
    path = tmp_path / "s.jsonl"
    good = "".join(json.dumps({"question": f"What is {i} + 1?", "answer": f"#### {i + 1}"}) + "\n" for i in range(3))
    path.write_text(good + '{"question": "What is 9 + 1?"}\n')
    with pytest.raises(SeedFileError, match="line 4: missing field 'answer'"):
        load_seed_problems(str(path), limit=2)
    path.write_bytes(good.encode() + b'{"question": "' + b"x" * (3 * 2**20) + b'"}\n')
    with pytest.raises(SeedFileError, match="line 4: longer than"):
        load_seed_problems(str(path), limit=2)
    path.write_text(good)
    first = load_seed_problems(str(path), limit=1)
    assert load_seed_problems(str(path), limit=2, taken=first["problem_id"])["answer"].to_list() == ["2", "3"]


def test_ids_of_earlier_releases_count_as_read(tmp_path: Path) -> None:
    """Batches up to 2026-12-06 named a seed row by its path as typed and its text: a row one of them read is read."""
    path = tmp_path / "s.jsonl"
    path.write_text(
        "".join(json.dumps({"question": f"What is {i} + 1?", "answer": f"#### {i + 1}"}) + "\n" for i in range(3))
    )
    typed = "seed-" + hashlib.sha256(f"{path}\nWhat is 0 + 1?".encode()).hexdigest()[:16]
    assert load_seed_problems(str(path), limit=2, taken={typed})["answer"].to_list() == ["2", "3"]
    assert load_seed_problems(str(path), limit=2)["problem_id"][0] == seed_problem_id(" What is 0 + 1? ")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("SHOUT.JSONL", b'{"question": "What is 1 + 1?"}\n', r"SHOUT.JSONL: line 1: missing field 'answer'"),  # a file
        ("noext", b'{"question": "q", "answer": "1"}\n', r"noext: a seed file ends in \.jsonl"),
        ("lone.jsonl", b'{"question": "What is \\ud800 1 + 1?", "answer": "2"}\n', r"line 1: .*lone surrogate"),
    ],
)
def test_seed_file_names_and_text_are_checked(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SeedFileError, match=message):
        load_seed_problems(str(path))


def test_a_pretty_printed_json_object_is_one_seed_row(tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text(json.dumps({"question": "What is 2 + 3?", "answer": "#### 5"}, indent=2))
    assert load_seed_problems(str(path))["answer"].to_list() == ["5"]
    lines = tmp_path / "lines.json"  # JSON lines in a .json file stay JSON lines
    lines.write_text('{"question": "What is 1 + 1?", "answer": "2"}\n{"question": "What is 2 + 2?", "answer": "4"}\n')
    assert load_seed_problems(str(lines)).height == 2


def test_a_problem_given_two_gold_answers_is_counted_and_warned_of(tmp_path: Path) -> None:
    import dagster as dg

    import definitions

    path = tmp_path / "twice.jsonl"
    path.write_text("".join(json.dumps({"question": "What is 2 + 2?", "answer": f"#### {a}"}) + "\n" for a in (4, 5)))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("batch", ["b1"])
        result = dg.materialize(
            [definitions.problems.seed_problems],
            resources={"io_manager": ParquetIOManager(base_path=str(tmp_path / "assets"))},
            run_config={"ops": {"seed_problems": {"config": {"sources": [str(path)]}}}},
            instance=instance,
            partition_key="b1",
        )
        warnings = [e.message for e in instance.all_logs(result.run_id) if e.level == 30]
    [materialized] = result.asset_materializations_for_node("seed_problems")
    assert materialized.metadata["problems_with_several_gold_answers"].value == 1
    assert any("2 gold answers ['4', '5']" in w for w in warnings)

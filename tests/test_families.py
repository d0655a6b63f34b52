"""Each procedural family's answers, checked by solvers written here independently of the generators."""

import itertools
import json
import re

import pytest

from generators.problems.algebra import algebra_problem
from generators.problems.commonsense import GRAMS, calendar_item, clock_item, heaviest_item
from generators.problems.families import FAMILIES, generate_mixed
from generators.problems.logic import knights_and_knaves, ordering_puzzle, syllogism
from generators.problems.procedural import sibling_exemplars
from generators.tasks.cot import CotTask
from generators.tasks.prompts import SHOTS_BY_DOMAIN, STYLES, cot_prompt, textbook_prompt
from generators.tasks.textbook import AUDIENCES, load_topics, sample_topics
from generators.teachers.backend import SamplingParams
from generators.teachers.cache import ResponseCache
from generators.teachers.openai_backend import OpenAICompatibleBackend

SEEDS = range(40)


def says_truth(kind: str, about: list[str], knight: dict[str, bool]) -> bool:
    if kind == "is_knight":
        return knight[about[0]]
    if kind == "is_knave":
        return not knight[about[0]]
    if kind in ("same", "different"):
        return (knight[about[0]] == knight[about[1]]) == (kind == "same")
    return [knight[p] for p in about].count(False) == 1  # exactly_one_knave


@pytest.mark.parametrize("seed", SEEDS)
def test_knights_and_knaves_by_brute_force(seed: int) -> None:
    row = knights_and_knaves(seed, size=2 + seed % 2)
    spec = json.loads(row["spec"])
    people = spec["people"]
    consistent = []
    for values in itertools.product([True, False], repeat=len(people)):
        knight = dict(zip(people, values, strict=True))
        if all(
            says_truth(s["claim"]["kind"], s["claim"]["about"], knight) is knight[s["speaker"]]
            for s in spec["statements"]
        ):
            consistent.append(knight)
    assert len(consistent) == 1
    assert row["answer"] == ("knight" if consistent[0][spec["target"]] else "knave")
    assert all(name in row["problem"] for name in people)


@pytest.mark.parametrize("seed", SEEDS)
def test_orderings_by_brute_force(seed: int) -> None:
    row = ordering_puzzle(seed, size=3 + seed % 2)
    spec = json.loads(row["spec"])

    def fits(order: tuple[str, ...]) -> bool:
        at = order.index
        checks = {
            "before": lambda c: at(c["a"]) < at(c["b"]),
            "right_after": lambda c: at(c["a"]) - at(c["b"]) == 1,
            "first": lambda c: order[0] == c["a"],
            "last": lambda c: order[-1] == c["a"],
            "not_first": lambda c: order[0] != c["a"],
        }
        return all(checks[c["kind"]](c) for c in spec["clues"])

    orders = [o for o in itertools.permutations(spec["people"]) if fits(o)]
    assert len(orders) == 1 and orders[0][spec["place"]] == row["answer"]


def syllogism_valid(premises: list[list[str]], conclusion: list[str]) -> bool:
    """Valid iff the conclusion holds in every model of the premises: a model says which of the 8 regions of the
    S/M/P Venn diagram are inhabited (no existential import)."""
    regions = list(itertools.product([False, True], repeat=3))  # membership in (S, M, P)
    index = {"S": 0, "M": 1, "P": 2}

    def holds(statement: list[str], inhabited: set) -> bool:
        q, x, y = statement
        xs = [r for r in inhabited if r[index[x]]]
        return {
            "A": all(r[index[y]] for r in xs),
            "E": not any(r[index[y]] for r in xs),
            "I": any(r[index[y]] for r in xs),
            "O": any(not r[index[y]] for r in xs),
        }[q]

    for mask in itertools.product([False, True], repeat=8):
        inhabited = {r for r, on in zip(regions, mask, strict=True) if on}
        if all(holds(p, inhabited) for p in premises) and not holds(conclusion, inhabited):
            return False
    return True


@pytest.mark.parametrize("seed", SEEDS)
def test_syllogisms_by_enumerating_models(seed: int) -> None:
    row = syllogism(seed)
    spec = json.loads(row["spec"])
    assert row["answer"] == ("yes" if syllogism_valid(spec["premises"], spec["conclusion"]) else "no")


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("steps", [1, 3])
def test_algebra_answers_solve_the_equations(seed: int, steps: int) -> None:
    import sympy

    row = algebra_problem(seed, steps)
    spec = json.loads(row["spec"])
    unknowns = sympy.symbols(spec["unknowns"])
    (solution,) = sympy.solve([sympy.sympify(e) for e in spec["equations"]], unknowns, dict=True)
    value = solution[sympy.Symbol(spec["ask"])]
    assert value.is_integer and value > 0 and str(value) == row["answer"]
    numbers = re.findall(r"\d+", row["problem"])
    assert all(
        str(abs(int(n))) in numbers for n in re.findall(r"-?\d+", " ".join(spec["equations"])) if int(n) not in (0, 1)
    )
    assert "'" not in row["problem"].split("How many")[-1]


DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


@pytest.mark.parametrize("seed", SEEDS)
def test_multiple_choice_items_recomputed(seed: int) -> None:
    for row in (calendar_item(seed), clock_item(seed), heaviest_item(seed)):
        spec = json.loads(row["spec"])
        options = dict(re.findall(r"\(([A-D])\) (.+?)(?= \([A-D]\)|$)", row["problem"]))
        assert list(options.values()) == spec["choices"]
        if row["template"] == "calendar":
            expected = DAYS[(spec["start"] + spec["offset"]) % 7]
        elif row["template"] == "clock":
            end = spec["start"] + spec["duration"]
            expected = f"{end // 60 % 24:02d}:{end % 60:02d}"
        else:
            weights = [n * GRAMS[unit] for n, unit in spec["amounts"]]
            expected = spec["choices"][weights.index(max(weights))]
        assert options[row["answer"]] == expected
        assert list(options.values()).count(expected) == 1


def test_mixed_families_are_reproducible_and_cover_every_family() -> None:
    families = sorted(FAMILIES)
    first, again = generate_mixed(28, 3, families), generate_mixed(28, 3, families)
    assert first.equals(again) and first["problem_id"].n_unique() == 28
    assert set(first["template"]) >= {"knights_and_knaves", "ordering", "syllogism", "calendar", "clock", "heaviest"}
    assert set(first["domain"]) == {"math", "logic", "commonsense"}
    assert set(first["reasoning_kind"]) == {"mathematical", "multi-step", "logical", "common-sense"}
    with pytest.raises(ValueError, match="unknown problem families"):
        generate_mixed(2, 0, ["sudoku"])


@pytest.mark.parametrize("chat", [False, True])
@pytest.mark.parametrize("domain", ["math", "logic", "commonsense"])
def test_cot_templates_render_for_every_domain(domain: str, chat: bool) -> None:
    rendered = cot_prompt("What is 2 + 2?", chat=chat, domain=domain)
    text = rendered.prompt if not chat else rendered.messages[-1][1]
    assert text.rstrip().endswith("What is 2 + 2?" if chat else "What is 2 + 2?\nAnswer:")
    assert (rendered.prompt is None) == chat and (rendered.messages is None) != chat
    assert len(rendered.template_hash) == 12
    if not chat:
        assert rendered.prompt.count("\\boxed{") == len(SHOTS_BY_DOMAIN[domain][1])


@pytest.mark.parametrize("chat", [False, True])
def test_sibling_shots_go_to_a_base_models_arithmetic_story_problems(tmp_path, chat: bool) -> None:
    backend = OpenAICompatibleBackend(["http://127.0.0.1:9/v1"], "m", ResponseCache(tmp_path / "c.sqlite"), chat=chat)
    task = CotTask(backend, SamplingParams(), shots="siblings")
    story, other, calendar = FAMILIES["arithmetic"].make(0, 2), FAMILIES["arithmetic"].make(1, 2), calendar_item(0)
    shown = task.prompt(story)
    if chat:
        assert shown == cot_prompt(story["problem"], chat=True)
    else:
        assert shown.template == "cot_fewshot_siblings"
        assert shown.prompt.endswith(f"Question: {story['problem']}\nAnswer:")
        assert all(f"Question: {q}\nAnswer: {a}\n\n" in shown.prompt for q, a in sibling_exemplars(story))
        assert SHOTS_BY_DOMAIN["math"][1][0][0] not in shown.prompt
        assert shown.template_hash != task.prompt(other).template_hash  # the hash says which shots were shown
    assert task.prompt(calendar) == cot_prompt(calendar["problem"], chat=chat, domain="commonsense")
    assert CotTask(backend, SamplingParams()).prompt(story) == cot_prompt(story["problem"], chat=chat)


@pytest.mark.parametrize("chat", [False, True])
@pytest.mark.parametrize("style", sorted(STYLES))
@pytest.mark.parametrize("audience", AUDIENCES)
def test_textbook_templates_render_for_every_combination(audience: str, style: str, chat: bool) -> None:
    rendered = textbook_prompt("Mathematics > Fractions > Ratios and rates", audience, style, chat)
    text = rendered.prompt if not chat else rendered.messages[-1][1]
    assert audience in text and "Ratios and rates" in text
    assert (style in text) if not chat else (STYLES[style] in text)


def test_topics_cross_audiences_and_styles() -> None:
    picked = sample_topics(load_topics(), 40, seed=1)
    assert picked.height == 40 and picked.select("subtopic", "audience", "style").is_unique().all()
    assert set(picked["style"]) == set(STYLES)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_a_family_is_found_whole_in_one_registry(name: str) -> None:
    """Its generator makes rows whose checks and chance level are the family's own rules."""
    import json

    from filters.families import chance_level, has_family_check
    from filters.verify import answer_type

    family = FAMILIES[name]
    row = family.make(7, 2)
    spec = json.loads(row["spec"]) if row["spec"] else {}
    assert chance_level(answer_type(row["answer"]), row["template"], spec) == family.rules.chance(spec)
    assert has_family_check(row["template"]) == (family.rules.check is not None)

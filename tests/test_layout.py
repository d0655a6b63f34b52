"""The architecture as tests: the import graph flows one way (assets -> generators -> filters) without cycles, every
filter follows the filter contract, and every model call goes through the task shape."""

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

from filters.contract import Filter
from generators.tasks.base import Task

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("assets", "generators", "filters")
LAYER = {"assets": 2, "definitions": 3, "generators": 1, "filters": 0}


def modules() -> dict[str, Path]:
    """Every module of the project's packages (and definitions.py), by dotted name."""
    found = {"definitions": ROOT / "definitions.py"}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(path: Path) -> set[str]:
    """The project modules a file imports, at any depth (function-level imports count too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: {m for m in imports(path) if m in known and m != name} for name, path in known.items()}


def test_layers_import_downwards_only() -> None:
    """filters/ never imports generators/ or assets/; generators/ never imports assets/."""
    upward = [
        (module, target)
        for module, targets in graph().items()
        for target in targets
        if LAYER[target.split(".")[0]] > LAYER[module.split(".")[0]]
    ]
    assert upward == []


def test_the_import_graph_has_no_cycle() -> None:
    edges = graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = 1
        for target in sorted(edges[module]):
            if state.get(target) == 1:
                return [*path, module, target]
            if target not in state and (cycle := visit(target, [*path, module])):
                return cycle
        state[module] = 2
        return None

    cycles = [cycle for module in sorted(edges) if module not in state and (cycle := visit(module, []))]
    assert cycles == []


def test_no_private_name_is_imported_from_another_module() -> None:
    private = [
        (name, node.module, alias.name)
        for name, path in modules().items()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PACKAGES
        for alias in node.names
        if alias.name.startswith("_")
    ]
    assert private == []


def test_row_shapes_are_defined_once_in_the_schemas_module() -> None:
    defined = {
        (name, target.id)
        for name, path in modules().items()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.Assign, ast.AnnAssign))
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name) and target.id in ("PROBLEM_SCHEMA", "LINEAGE_SCHEMA", "REJECTION_SCHEMA")
    }
    assert {module for module, _ in defined} == {"filters.schemas"}


def subclasses(base: type) -> list[type]:
    for package in PACKAGES:
        for info in pkgutil.walk_packages([str(ROOT / package)], f"{package}."):
            importlib.import_module(info.name)
    found, todo = [], [base]
    while todo:
        for cls in todo.pop().__subclasses__():
            found.append(cls)
            todo.append(cls)
    return [cls for cls in found if cls.__module__.split(".")[0] in PACKAGES]


@pytest.mark.parametrize(
    "cls", [c for c in subclasses(Filter) if c.__module__ != "filters.contract"], ids=lambda c: c.__name__
)  # the contract's own bases (RowFilter) are not filters of a stage
def test_every_filter_implements_the_contract(cls: type) -> None:
    """A concrete filter, named after the stage it serves, that only decides (the base splits the frame); one that
    decides row by row does it in ``decide_row`` (the base owns the loop and its worker processes)."""
    from assets.stages import STAGES
    from filters.contract import RowFilter

    assert not inspect.isabstract(cls) and cls.name in STAGES
    assert "__call__" not in vars(cls), f"{cls.__name__} must leave the split to the base"
    assert list(inspect.signature(cls.decide).parameters) == ["self", "frame"]
    if issubclass(cls, RowFilter):
        assert list(inspect.signature(cls.decide_row).parameters) == ["self", "row"]


def test_filter_results_are_only_made_by_the_contract() -> None:
    """No filter builds its kept/dropped frames by hand: every result comes from ``split_by_decision``."""
    builders = [
        name
        for name, path in modules().items()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "FilterResult"
    ]
    assert set(builders) == {"filters.contract"}


@pytest.mark.parametrize("cls", subclasses(Task), ids=lambda c: c.__name__)
def test_every_task_declares_its_columns(cls: type) -> None:
    """A task outside the shape's own module is concrete and declares its name, input and output columns."""
    if cls.__module__ == "generators.tasks.base":
        assert [c for c in subclasses(cls) if not inspect.isabstract(c)], f"{cls.__name__} has no task"
        return
    assert not inspect.isabstract(cls)
    assert cls.name and cls.inputs and cls.outputs, cls.__name__


def test_every_model_call_goes_through_the_task_shape() -> None:
    """``backend.generate`` is called in one place, ``Task.run``: every generator and grader is a task (the engines
    under ``generators.teachers`` call their own engines' APIs)."""
    callers = {
        name
        for name, path in modules().items()
        if not name.startswith("generators.teachers")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "generate"
    }
    assert callers == {"generators.tasks.base"}


def test_steps_and_sentences_are_split_in_one_place() -> None:
    """What a step, a sentence and a clause of a trace are is defined by ``filters.steps.text`` alone, so the steps
    ``min_steps`` counts, the family checks read and ``cot-steps`` publishes are the same steps."""
    splitters = ("(?<=[.!?])", "[^.;!?", r"step\s*\d")
    elsewhere = [
        name
        for name, path in modules().items()
        if name != "filters.steps.text" and any(pattern in path.read_text() for pattern in splitters)
    ]
    assert elsewhere == []


def test_publishing_never_runs_a_check_again() -> None:
    """Publishing reads the verdicts, step labels and reasons that verification recorded; it calls no check."""
    checks = {"check_trace", "find_reasoning_error", "family_reasoning_error", "family_contradiction", "verify"}
    checks |= {"verify_many", "verify_traces", "reasoning_verdicts"}
    publishing = [n for n in modules() if n.startswith("generators.publishing") or n == "assets.publishing"]
    calls = {
        (name, node.func.id if isinstance(node.func, ast.Name) else node.func.attr)
        for name in publishing
        for node in ast.walk(ast.parse(modules()[name].read_text()))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name | ast.Attribute)
    }
    assert {(name, call) for name, call in calls if call in checks} == set()
    from_steps = {
        (name, alias.name)
        for name in publishing
        for node in ast.walk(ast.parse(modules()[name].read_text()))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("filters.steps")
        for alias in node.names
    }
    assert {imported for _, imported in from_steps} <= {"split_steps", "PROCESS_REASONS", "LABEL_SOURCES"}


def test_publishing_reads_no_event_log() -> None:
    """What the card says comes in as asset inputs (the stages' reports), never from the instance's event log."""
    reads = ("latest_metadata", "get_latest_materialization_event", "fetch_materializations", "get_event_records")
    publishing = [n for n in modules() if n.startswith("generators.publishing") or n == "assets.publishing"]
    assert [(n, r) for n in publishing for r in reads if r in modules()[n].read_text()] == []


def test_every_drop_code_is_declared_by_the_module_that_emits_it() -> None:
    """A drop code is declared once (``filters.schemas.reasons``) by the check that emits it; a code nobody declared
    cannot be made, and no module emits a code another one owns."""
    import re

    from filters.contract import Drop
    from filters.schemas import REASONS, reasons

    for name in modules():
        importlib.import_module(name)
    literal = re.compile(r"""(?:Drop|Rejected)\(\s*f?["']([a-z_{}\[\]0-9]+)["']""")
    for name, path in modules().items():
        for code in literal.findall(path.read_text()):
            pattern = re.compile("^" + re.sub(r"\{[^}]*\}", "[a-z]+", code) + "$")
            owners = {owner for declared, owner in REASONS.items() if pattern.match(declared)}
            assert owners == {name}, (name, code, owners)
    with pytest.raises(ValueError, match="not declared"):
        Drop("no_such_code")
    with pytest.raises(ValueError, match=r"declared by filters\.verify"):
        reasons("somewhere.else", "wrong_answer")

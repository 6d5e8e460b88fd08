"""Issue 16: prescriptions is split by concept with one-way imports: the services never import the tasks (the outbox
queues the send task by name), no module is over 800 lines, and the task the outbox names is the one registered."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "prescriptions"
SIMULATOR = PACKAGE.parent / "pharmacy_sim"


def _imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, relative ones written ".name" (`from . import x` gives ".x")."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names.add(base)
            if not node.module:
                names.update(base + alias.name for alias in node.names)
    return names


def test_no_module_imports_the_tasks():
    offenders = [
        path.name
        for path in PACKAGE.rglob("*.py")
        if path.name != "tasks.py" and {".tasks", "prescriptions.tasks"} & _imported_modules(path)
    ]
    assert offenders == []


def test_modules_stay_under_800_lines():
    sizes = {
        p.name: len(p.read_text().splitlines()) for p in [*PACKAGE.glob("*.py"), *SIMULATOR.glob("*.py")]
    }
    assert {name: n for name, n in sizes.items() if n > 800} == {}


def test_the_outbox_queues_the_registered_send_task():
    from prescriptions import outbox, tasks

    assert tasks.transmit_message.name == outbox.TRANSMIT_TASK

"""The field names of `trl.GRPOConfig`, read from TRL's installed source without importing TRL.

Importing TRL loads torch and transformers (10.4 s on the 2-core dev machine:
`python -c "from trl import GRPOConfig"`), and every stage loads params at start-up. So the grpo
section's keys are checked against the dataclass fields found by parsing GRPOConfig's module and
those of its base classes (TRL's `_BaseConfig`, transformers' `TrainingArguments`): 35 ms
once per process (first `load_params` 0.053 s against 0.020 s before).
TRL itself validates the values when the grpo stage builds its `GRPOConfig`.
"""

from __future__ import annotations

import ast
import importlib.util
from functools import cache
from pathlib import Path

__all__ = ["trl_grpo_fields"]


def _source(module: str) -> tuple[Path, bool]:
    """(file of `module`, whether it is a package's __init__) without importing it."""
    top, _, rest = module.partition(".")
    spec = importlib.util.find_spec(top)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"{top} is not installed (needed to check the grpo section)")
    path = Path(spec.origin).parent.joinpath(*rest.split(".")) if rest else Path(spec.origin)
    if path.name == "__init__.py" or not path.with_suffix(".py").is_file():
        return (path if path.name == "__init__.py" else path / "__init__.py"), True
    return path.with_suffix(".py"), False


def _fields(module: str, name: str) -> set[str]:
    """Annotated class attributes of `module.name` and of its bases, followed through imports."""
    path, is_package = _source(module)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module.split(".") if is_package else module.split(".")[:-1]
    imported: dict[str, str] = {}
    for node in ast.walk(tree):  # `if TYPE_CHECKING:` imports too (transformers' lazy __init__)
        if isinstance(node, ast.ImportFrom):
            parts = package[: len(package) - node.level + 1] if node.level else []
            source = ".".join([*parts, *([node.module] if node.module else [])])
            imported.update({a.asname or a.name: source for a in node.names})
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    if name not in classes:
        return _fields(imported[name], name) if name in imported else set()
    cls = classes[name]
    targets = [n.target for n in cls.body if isinstance(n, ast.AnnAssign)]
    fields = {t.id for t in targets if isinstance(t, ast.Name)}
    for base in cls.bases:
        if isinstance(base, ast.Name) and (base.id in classes or base.id in imported):
            fields |= _fields(module if base.id in classes else imported[base.id], base.id)
    return fields


@cache
def trl_grpo_fields() -> frozenset[str]:
    """Every field `trl.GRPOConfig(...)` accepts, its TrainingArguments base included."""
    return frozenset(_fields("trl.trainer.grpo_config", "GRPOConfig"))

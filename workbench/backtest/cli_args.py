"""What the `backtest`, `sweep` and `paper` commands are given, read and checked.

A strategy is named `module:Class` (a module importable from here or the current folder)
or `path/to/file.py:Class`; `--param k=v` / `--grid k=v1,v2` values are converted by the
parameter's default or annotation (an int parameter gets an int, a bool one true/false,
`none` where None is allowed); anything else stays text, which the strategies read
exactly (`Decimal(text)`): a price is never a float. Each mistake is a `UsageError` with
one line that says what is wrong.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

BOOLS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


class UsageError(Exception):
    """A command line mistake: the message is one line, the exit code 2."""


def load_strategy(spec: str) -> tuple[Any, ModuleType]:
    """The strategy (a class or function) named by `module:Name` or `file.py:Name`, and
    its module."""
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name.isidentifier():
        raise UsageError(
            f"name the strategy as module:Class or path/to/file.py:Class, not {spec!r}"
        )
    module = _from_file(where) if where.endswith(".py") or "/" in where else _import(where)
    obj = getattr(module, name, None)
    if obj is None:
        found = [k for k, v in vars(module).items() if _strategy_like(v, module)]
        hint = f" (it has: {', '.join(sorted(found))})" if found else ""
        raise UsageError(f"{where} has no {name!r}{hint}")
    if not (isinstance(obj, type) or callable(obj)):
        raise UsageError(f"{where}:{name} is not a strategy class or function")
    _by_value(module)
    return obj, module


def _import(name: str) -> ModuleType:
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # as `python -m` does: modules of this folder
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name is not None and (name == e.name or name.startswith(e.name + ".")):
            raise UsageError(f"no module named {name!r} (from here or {Path.cwd()})") from None
        raise UsageError(f"cannot import {name}: {e}") from None
    except Exception as e:  # noqa: BLE001 - the user's module failed: say how, in one line
        raise UsageError(f"cannot import {name}: {type(e).__name__}: {e}") from None


def _from_file(where: str) -> ModuleType:
    path = Path(where)
    if not path.is_file():
        raise UsageError(f"no such file: {where}")
    name = f"_workbench_strategy_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot load {where} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 - the user's file failed: say how, in one line
        del sys.modules[name]
        raise UsageError(f"cannot load {where}: {type(e).__name__}: {e}") from None
    return module


def _by_value(module: ModuleType) -> None:
    """A sweep's workers get the user's strategy by value: they need not import its file."""
    if module.__name__.split(".")[0] in ("workbench", "server"):
        return
    import cloudpickle

    cloudpickle.register_pickle_by_value(module)


def _strategy_like(v: Any, module: ModuleType) -> bool:
    hooks = ("on_start", "on_quote", "on_bar", "on_event")
    return (
        isinstance(v, type)
        and v.__module__ == module.__name__
        and any(hasattr(v, h) for h in hooks)
    )


def _signature(factory: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(factory)
    except (TypeError, ValueError):
        return None


def parse_params(factory: Any, items: list[str], what: str = "--param") -> dict[str, Any]:
    """`k=v` items as keyword arguments of `factory`, each converted (module docstring)."""
    out: dict[str, Any] = {}
    for item in items:
        key, value = _split(item, what)
        out[key] = convert(factory, key, value, what)
    return out


def parse_grid(factory: Any, items: list[str]) -> dict[str, list[Any]]:
    """`k=v1,v2,...` items as the sweep's grid, each value converted."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, values = _split(item, "--grid")
        if key in grid:
            raise UsageError(f"--grid {key} is given twice: list its values once, comma-separated")
        grid[key] = [convert(factory, key, v.strip(), "--grid") for v in values.split(",")]
        if any(v == "" for v in values.split(",")):
            raise UsageError(f"--grid {item!r} has an empty value")
    return grid


def _split(item: str, what: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise UsageError(f"{what} takes name=value, not {item!r}")
    return key, value


def convert(factory: Any, key: str, text: str, what: str = "--param") -> Any:
    """`text` as the value of parameter `key` of `factory`."""
    sig = _signature(factory)
    name = getattr(factory, "__name__", repr(factory))
    if sig is None:
        return text
    p = sig.parameters.get(key)
    if p is None or p.kind in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY):
        if any(q.kind == q.VAR_KEYWORD for q in sig.parameters.values()):
            return text
        skip = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        names = [q.name for q in sig.parameters.values() if q.kind not in skip]
        raise UsageError(f"{what} {key}: {name} has no parameter {key!r} "
                         f"(its parameters: {', '.join(names) or 'none'})")  # fmt: skip
    ann = p.annotation if isinstance(p.annotation, str) else getattr(p.annotation, "__name__", "")
    default = p.default
    if text.lower() in ("none", "null") and (default is None or "None" in str(ann)):
        return None
    if isinstance(default, bool) or ann == "bool":
        if text.lower() not in BOOLS:
            raise UsageError(f"{what} {key}={text}: {key} is true or false")
        return BOOLS[text.lower()]
    if (isinstance(default, int) and not isinstance(default, bool)) or ann == "int":
        try:
            return int(text)
        except ValueError:
            raise UsageError(f"{what} {key}={text}: {key} is a whole number") from None
    if isinstance(default, float) or ann == "float":
        try:
            return float(text)
        except ValueError:
            raise UsageError(f"{what} {key}={text}: {key} is a number") from None
    return text


def build(factory: Any, params: dict[str, Any]) -> Any:
    """`factory(**params)`; a refusal (a bad value) is one line."""
    try:
        return factory(**params) if params or isinstance(factory, type) else factory
    except (TypeError, ValueError) as e:
        name = getattr(factory, "__name__", repr(factory))
        raise UsageError(f"{name}({_show(params)}) refused: {e}") from None


def _show(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items())

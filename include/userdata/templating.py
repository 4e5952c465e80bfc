"""Metadata templates are input from group editors, so they render under limits: in Jinja's immutable
sandbox, with arithmetic and sizes bounded (no ``9**(9**9)``, no ``'a'*4e9``, no filter or method asked
for a billion-wide string), and in a child process with a wall-clock deadline and a memory cap, so a
template that loops forever or grows without bound costs one refused boot of its cloud, never the task
that renders it (the cloud's kills and deletes still run, other groups never notice).

One child renders every template of a boot request for every VM id of it, so the cost is one process
start (about 0.1 s) per boot request, not per VM.
"""

from __future__ import annotations

import functools
import json
import math
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

CHILD_MODULE = "include.userdata.templating"
SIZING_FILTERS = frozenset({"center", "indent", "wordwrap", "slice", "batch", "truncate"})


@dataclass(frozen=True)
class RenderLimits:
    seconds: float = 3.0  # wall time of one batch (every template, every VM of a request); ms is usual
    output_bytes: int = 64 * 1024  # one rendered part; OpenStack takes 64 KiB of user-data, EC2 16 KiB
    memory_bytes: int = 512 * 1024 * 1024  # address space of the rendering process
    largest_int_arg: int = 1_000_000  # widths, counts and repeats a filter or method may be asked for
    largest_range: int = 10_000


DEFAULT_LIMITS = RenderLimits()


class TemplateFailure(Exception):
    """A template did not compile or render within its limits; ``name`` is the metadata item,
    ``message`` what went wrong ("does not render: ...")."""

    def __init__(self, name: str, message: str):
        self.name, self.message = name, message
        super().__init__(f"metadata {name!r} {message}")


def render_batch(
    templates: Sequence[tuple[str, str]],
    contexts: Sequence[Mapping[str, Any]],
    limits: RenderLimits = DEFAULT_LIMITS,
) -> list[list[str]]:
    """``[[text of each template] for each context]``, rendered in a child process under ``limits``.
    Raises TemplateFailure for the first template that fails, times out or runs out of memory. The
    contexts go through a pipe, never the command line, because they carry the pool's credentials."""
    if not templates or not contexts:
        return [[] for _ in contexts]
    request = json.dumps({"templates": list(templates), "contexts": list(contexts), "limits": asdict(limits)})
    try:
        done = subprocess.run(
            [sys.executable, "-m", CHILD_MODULE],
            input=request.encode(),
            capture_output=True,
            timeout=limits.seconds + 2,
            env=_child_env(),
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise TemplateFailure(
            _names(templates), f"does not render: took longer than {limits.seconds:g} s"
        ) from None
    try:
        answer = json.loads(done.stdout or b"{}")
    except ValueError:
        answer = {}
    if "texts" in answer:
        return answer["texts"]
    if "error" in answer:
        raise TemplateFailure(answer["error"]["name"], answer["error"]["message"])
    if done.returncode < 0 or b"MemoryError" in done.stderr:
        reason = (
            "used more memory than allowed"
            if b"MemoryError" in done.stderr
            else "was stopped at its CPU limit"
        )
        raise TemplateFailure(
            _names(templates),
            f"does not render: {reason} ({limits.memory_bytes >> 20} MiB, {limits.seconds:g} s)",
        )
    raise TemplateFailure(
        _names(templates),
        f"does not render: the rendering process failed: {done.stderr[-300:].decode(errors='replace')}",
    )


def check_templates(
    templates: Sequence[tuple[str, str]], context: Mapping[str, Any], limits: RenderLimits = DEFAULT_LIMITS
) -> dict[int, str]:
    """Render each template once with ``context``; ``{index: what went wrong}`` for those that fail.
    Used by configuration validation, so every broken template is reported before it is applied."""
    return _check_cached(tuple(templates), json.dumps(context, sort_keys=True), limits)


@functools.lru_cache(maxsize=256)
def _check_cached(
    templates: tuple[tuple[str, str], ...], context: str, limits: RenderLimits
) -> dict[int, str]:
    if not templates:
        return {}
    request = json.dumps(
        {"templates": templates, "contexts": [json.loads(context)], "limits": asdict(limits), "check": True}
    )
    try:  # the child times each template itself; this is the backstop
        done = subprocess.run(
            [sys.executable, "-m", CHILD_MODULE],
            input=request.encode(),
            capture_output=True,
            timeout=limits.seconds * len(templates) + 2,
            env=_child_env(),
            check=False,
        )
        answer = json.loads(done.stdout or b"{}")
    except subprocess.TimeoutExpired:
        return {-1: f"does not render: took longer than {limits.seconds:g} s"}
    except ValueError:
        answer = {}
    if "problems" not in answer:
        return {-1: "does not render: used more memory or time than allowed"}
    return {int(i): message for i, message in answer["problems"].items()}


def _names(templates: Sequence[tuple[str, str]]) -> str:
    return ", ".join(name for name, _ in templates)


def _child_env() -> dict[str, str]:
    """The child needs only to import this package: no Airflow Connections in its environment."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))}


# ---- the child ----------------------------------------------------------------------------------


def bounded_environment(limits: RenderLimits):
    """A sandboxed Jinja environment that refuses oversized arithmetic, repeats, widths and ranges."""
    from jinja2 import StrictUndefined
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def too_big(what: str) -> SecurityError:
        return SecurityError(f"{what} is over the template limits")

    def check_args(args: Sequence[Any], kwargs: Mapping[str, Any], numbers_from: int = 0) -> None:
        for i, value in enumerate((*args, *kwargs.values())):
            if _number(value) and i >= numbers_from and abs(value) > limits.largest_int_arg:
                raise too_big(f"the number {value}")
            if isinstance(value, str) and _wide_format(value, limits.largest_int_arg):
                raise too_big("a format width")

    def size(value: Any) -> int | None:
        return len(value) if isinstance(value, str | list | tuple) else None

    class Bounded(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"**", "*", "+", "%", "//"})

        def call_binop(self, context, operator, left, right):
            if operator == "**" and _number(left) and _number(right):
                bits = abs(right) * math.log2(abs(left)) if abs(left) > 1 else 0
                if bits > 4096:
                    raise too_big(f"{left} ** {right}")
            if operator in ("*", "+"):
                sizes = (size(left), size(right))
                if operator == "*" and None in sizes and any(s is not None for s in sizes):
                    count = right if sizes[0] is not None else left
                    if (
                        isinstance(count, int | float)
                        and count * max(s or 0 for s in sizes) > limits.output_bytes
                    ):
                        raise too_big("a repeated string")
                elif sizes[0] is not None and sizes[1] is not None and sum(sizes) > limits.output_bytes:
                    raise too_big("a joined string")
                if (
                    isinstance(left, int)
                    and isinstance(right, int)
                    and left.bit_length() + right.bit_length() > 4096
                ):
                    raise too_big("a product")
            if operator == "%" and isinstance(left, str) and _wide_format(left, limits.largest_int_arg):
                raise too_big("a format width")
            return super().call_binop(context, operator, left, right)

        def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - Jinja's own signature
            bound_to = getattr(
                __obj, "__self__", getattr(getattr(__obj, "__wrapped__", None), "__self__", None)
            )
            check_args((bound_to, *args), kwargs, numbers_from=1)
            return super().call(__context, __obj, *args, **kwargs)

    env = Bounded(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)

    def guarded(name, fn):
        # Numbers are data to most filters (``'%d'|format(ram_kb)``); to these they are output sizes.
        sizing = name in SIZING_FILTERS
        first_argument = (2 if hasattr(fn, "jinja_pass_arg") else 1) if sizing else 1 << 30

        @functools.wraps(fn)  # keeps Jinja's pass_context/pass_environment marks
        def wrapper(*args, **kwargs):
            check_args(args, kwargs, numbers_from=first_argument)
            return fn(*args, **kwargs)

        return wrapper

    env.filters = {name: guarded(name, fn) for name, fn in env.filters.items()}

    def bounded_range(*args: int):
        r = range(*args)
        if len(r) > limits.largest_range:
            raise too_big(f"a range of {len(r)} items")
        return r

    env.globals["range"] = bounded_range
    return env


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _wide_format(text: str, largest: int) -> bool:
    """Whether a %-format or str.format spec in ``text`` asks for a width or precision over ``largest``
    (or for one given by an argument, ``*``)."""
    import re

    for match in re.finditer(r"%[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?|\{[^{}]*:[^{}]*?(\d+)", text[:10_000]):
        for group in match.groups():
            if group == "*" or (group and group.isdigit() and int(group) > largest):
                return True
    return False


def _render_all(request: Mapping[str, Any]) -> dict[str, Any]:
    from jinja2 import TemplateError

    limits = RenderLimits(**request["limits"])
    env = bounded_environment(limits)
    compiled = []
    for name, text in request["templates"]:
        _rendering[0] = name
        try:
            compiled.append((name, env.from_string(text)))
        except (TemplateError, RecursionError, MemoryError) as err:
            return {"error": {"name": name, "message": f"does not compile: {_why(err)}"}}
    texts = []
    for context in request["contexts"]:
        row = []
        for name, template in compiled:
            _rendering[0] = name
            try:
                row.append(_generate(template, context, limits.output_bytes))
            except (
                TemplateError,
                RecursionError,
                MemoryError,
                ArithmeticError,
                TypeError,
                ValueError,
                AttributeError,
                LookupError,
            ) as err:
                return {"error": {"name": name, "message": f"does not render: {_why(err)}"}}
        texts.append(row)
    return {"texts": texts}


def _check_each(request: Mapping[str, Any]) -> dict[str, Any]:
    """Every template on its own, each with the whole time limit, so one failure does not hide (or
    take the blame for) the next."""
    problems = {}
    for i, template in enumerate(request["templates"]):
        answer = _timed(request["limits"]["seconds"], _render_all, {**request, "templates": [template]})
        if "error" in answer:
            problems[str(i)] = answer["error"]["message"]
    return {"problems": problems}


class _OutOfTime(Exception):
    pass


_rendering: list[str] = [""]  # the template being compiled or rendered, to name it when time runs out


def _timed(seconds: float, fn, request: Mapping[str, Any]) -> dict[str, Any]:
    """``fn(request)`` stopped by SIGALRM after ``seconds`` (this process runs nothing else)."""
    import signal

    def stop(_signum, _frame):
        raise _OutOfTime()

    signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn(request)
    except _OutOfTime:
        name = _rendering[0] or ", ".join(name for name, _ in request["templates"])
        return {"error": {"name": name, "message": f"does not render: took longer than {seconds:g} s"}}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _generate(template, context: Mapping[str, Any], cap: int) -> str:
    from jinja2.exceptions import SecurityError

    out, size = [], 0
    for chunk in template.generate(context):
        size += len(chunk)
        if size > cap:
            raise SecurityError(f"the output is over {cap:,} characters")
        out.append(chunk)
    return "".join(out)


def _why(err: BaseException) -> str:
    from jinja2 import TemplateSyntaxError

    if isinstance(err, TemplateSyntaxError):
        return f"line {err.lineno}: {err.message}"
    if isinstance(err, RecursionError):
        return "nests or recurses too deeply"
    if isinstance(err, MemoryError):
        return "used more memory than allowed"
    return f"{type(err).__name__}: {err}"[:500]


def _child() -> None:
    import resource

    import jinja2.sandbox  # noqa: F401 - imported before the memory cap, which is for the templates

    request = json.loads(sys.stdin.buffer.read())
    limits = RenderLimits(**request["limits"])
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    cpu = math.ceil(limits.seconds * len(request["templates"])) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    sys.setrecursionlimit(400)
    answer = _check_each(request) if request.get("check") else _timed(limits.seconds, _render_all, request)
    sys.stdout.write(json.dumps(answer))


if __name__ == "__main__":
    _child()

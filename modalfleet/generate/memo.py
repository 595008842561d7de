"""Render a template's repeated pieces once: fragments memoized by the values they read.

A fleet's files differ in a few places (the model's name, its GPU, its parameters) and agree in
most: the image block of every text-to-image model on one GPU set, the request fields of every
model whose parameters match. Jinja renders all of it for every file. Here each template is
cut, when it is parsed, into fragments: an `{% if %}` or `{% for %}` statement, or one `{{ }}`
expression, at the top level of the template or of a block (or inside an if/for that could not
be a fragment itself). A fragment whose output can depend on nothing but the variables it
reads is rewritten to

    {% if <id> | _mf_hit(var1, var2, ...) %}{{ <id> | _mf_last }}{% else %}
    {% filter _mf_store(<id>) %} ...the fragment, unchanged... {% endfilter %}{% endif %}

(expressions the same way, as a conditional expression). The key is the fragment's id and the
values of exactly what it reads: the attribute paths it uses (`model.params`, not the whole
model), resolved with Jinja's own getattr/getitem, each turned into a type-tagged canonical
form (1, 1.0 and True stay apart; dict order counts). Equal key, equal output: the fragment is
the same code and every global and filter it may call is a pure function.

A fragment is not memoized (it stays as Jinja wrote it) when it could read something its key
does not hold or change something: a call of anything but the pure globals below or a method
outside a read-only list, the `random` filter, a `{% set %}` that outlives the fragment,
blocks, macros, includes, imports, `self`/`super`/`caller`, or a name it both binds and reads
unbound. At render time a key that cannot be formed (a value of a type outside plain data and
frozen dataclasses, a path Jinja cannot resolve) renders the fragment the plain way, so errors
keep their message and template line. Fragments that never repeat (the model's name) stop being
memoized after a few misses, so the cache holds only what pays.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from jinja2 import nodes, pass_context
from jinja2.runtime import Undefined
from jinja2.utils import missing

HIT, LAST, STORE, KEEP = "_mf_hit", "_mf_last", "_mf_store", "_mf_keep"
# Globals a fragment may call: the renderer's own (pure functions of their arguments) and
# Jinja's pure builtins. lipsum, cycler, joiner and namespace are stateful or random.
PURE_CALLS = frozenset({"pin", "pins", "param_default", "model_source", "range", "dict"})
# Methods that only read: a fragment calling anything else (append, update, a cycler's next)
# may change what another fragment reads.
PURE_METHODS = frozenset(
    {
        "get", "keys", "values", "items", "count", "index", "startswith", "endswith",
        "upper", "lower", "title", "capitalize", "strip", "lstrip", "rstrip", "split",
        "rsplit", "splitlines", "join", "replace", "format", "isdigit", "isidentifier",
        "removeprefix", "removesuffix", "zfill", "ljust", "rjust", "center",
    }
)  # fmt: skip
STATEFUL_GLOBALS = frozenset({"lipsum", "cycler", "joiner", "namespace"})
IMPURE_FILTERS = frozenset({"random"})
SPECIAL_NAMES = frozenset({"self", "super", "caller", "varargs", "kwargs", "loop"})
# A fragment that missed this often without one hit is left to Jinja from then on.
GIVE_UP_AFTER = 16

_EXPRESSIONS = (
    nodes.Const, nodes.Name, nodes.Getattr, nodes.Getitem, nodes.Slice, nodes.Call,
    nodes.Keyword, nodes.Filter, nodes.Test, nodes.CondExpr, nodes.And, nodes.Or, nodes.Not,
    nodes.Neg, nodes.Pos, nodes.Add, nodes.Sub, nodes.Mul, nodes.Div, nodes.FloorDiv,
    nodes.Mod, nodes.Pow, nodes.Concat, nodes.Compare, nodes.Operand, nodes.List, nodes.Tuple,
    nodes.Dict, nodes.Pair,
)  # fmt: skip
_STATEMENTS = (nodes.Output, nodes.TemplateData, nodes.If, nodes.For, nodes.Assign)

Path_ = tuple[tuple[str, Any], ...]  # ("attr", "params") or ("item", "name") steps
Dep = tuple[str, Path_]  # a root name and the path read below it


class _NotPure(Exception):
    """The fragment may read what its key does not hold, or change what others read."""


class Uncanonical(Exception):
    """A value outside plain data and frozen dataclasses: no key for it."""


class FragmentMemo:
    """The fragments of one environment's templates and their rendered outputs."""

    def __init__(self) -> None:
        self.deps: list[list[tuple[int, Path_]]] = []  # fragment id -> (root index, path)
        self.outputs: dict[tuple, str] = {}
        self.hits: list[int] = []
        self.misses: list[int] = []
        self.pending: tuple | None = None  # the key of the fragment being rendered after a miss
        # Canonical forms, as small ints: a frozen dataclass (a Model, its containers) is
        # reduced once per render, other values (a template's own lists) once per file.
        self.interned: dict[Any, int] = {}
        self.frozen: dict[int, tuple[Any, int]] = {}  # id -> (the object, kept alive; token)
        self.per_file: dict[int, tuple[Any, int]] = {}
        self.context: Any = None  # the file being rendered (Jinja's context: one per file)
        self.enabled = True
        self.kept: set[int] = set()  # ids of {% set %} values held in outputs (so never reused)

    def install(self, env) -> None:
        # pass_context (on the methods below) also keeps Jinja from calling them at compile
        # time to fold constants: `3 | _mf_last` has only constant arguments.
        env.filters[HIT] = self.hit
        env.filters[LAST] = self.last
        env.filters[STORE] = self.store
        env.filters[KEEP] = self.keep

    # ---- parse time

    def rewrite(self, template: nodes.Template) -> nodes.Template:
        if any(_may_change_state(call) for call in template.find_all(nodes.Call)):
            # A template that may change a value (list.append, a cycler) could change what a
            # key was made from after it was made: no fragment of this render is reused.
            self.enabled = False
        template.body = self._rewrite_body(template.body)
        return template

    def _rewrite_body(self, body: list[nodes.Node]) -> list[nodes.Node]:
        out = []
        for node in body:
            if isinstance(node, nodes.Block):
                node.body = self._rewrite_body(node.body)
            elif isinstance(node, nodes.Output):
                node.nodes = [self._rewrite_expression(child) for child in node.nodes]
            elif isinstance(node, nodes.Assign) and isinstance(node.target, nodes.Name):
                node.node = self._rewrite_expression(node.node, KEEP)
            elif isinstance(node, (nodes.If, nodes.For)):
                deps = fragment_deps(node)
                if deps is not None:
                    node = self._wrap_statement(node, deps)
                elif isinstance(node, nodes.If):
                    node.body = self._rewrite_body(node.body)
                    for branch in node.elif_:
                        branch.body = self._rewrite_body(branch.body)
                    node.else_ = self._rewrite_body(node.else_)
                else:
                    node.body = self._rewrite_body(node.body)
                    node.else_ = self._rewrite_body(node.else_)
            out.append(node)
        return out

    def _rewrite_expression(self, node: nodes.Node, store: str = STORE) -> nodes.Node:
        if isinstance(node, (nodes.TemplateData, nodes.Const)) or _plain_read(node):
            return node  # reading a variable costs less than looking it up
        deps = fragment_deps(node)
        if deps is None:
            return node
        item, roots = self._register(deps)
        lineno = node.lineno
        return nodes.CondExpr(
            self._hit(item, roots, lineno),
            nodes.Filter(_const(item, lineno), LAST, [], [], None, None, lineno=lineno),
            nodes.Filter(node, store, [_const(item, lineno)], [], None, None, lineno=lineno),
            lineno=lineno,
        )

    def _wrap_statement(self, node: nodes.Node, deps: list[Dep]) -> nodes.Node:
        item, roots = self._register(deps)
        lineno = node.lineno
        last = nodes.Filter(_const(item, lineno), LAST, [], [], None, None, lineno=lineno)
        store = nodes.Filter(None, STORE, [_const(item, lineno)], [], None, None, lineno=lineno)
        return nodes.If(
            self._hit(item, roots, lineno),
            [nodes.Output([last], lineno=lineno)],
            [],
            [nodes.FilterBlock([node], store, lineno=lineno)],
            lineno=lineno,
        )

    def _register(self, deps: list[Dep]) -> tuple[int, list[str]]:
        roots = sorted({root for root, _ in deps})
        item = len(self.deps)
        self.deps.append([(roots.index(root), path) for root, path in deps])
        self.hits.append(0)
        self.misses.append(0)
        return item, roots

    @staticmethod
    def _hit(item: int, roots: list[str], lineno: int) -> nodes.Filter:
        args = [nodes.Name(root, "load", lineno=lineno) for root in roots]
        return nodes.Filter(_const(item, lineno), HIT, args, [], None, None, lineno=lineno)

    # ---- render time

    @pass_context
    def hit(self, context, item: int, *roots: Any) -> bool:
        """Whether fragment `item` was rendered before with these values; remembers the key."""
        self.pending = None
        misses = self.misses[item]
        if not self.enabled or (misses >= GIVE_UP_AFTER and not self.hits[item]):
            return False
        if context is not self.context:
            self.context = context
            self.per_file = {}
        key: list[Any] = [item]
        try:
            for index, path in self.deps[item]:
                value = roots[index]
                if path:
                    value = _follow(context.environment, value, path)
                    if value is _UNRESOLVED:
                        return False  # Jinja reports it when it renders the fragment
                kind = type(value)
                if kind is str:
                    key.append(value)
                elif kind is int or kind is bool or value is None:
                    key.append((kind, value))
                else:
                    key.append(self.token(value))
        except Exception:  # a property that raises, an unhashable step: render it plainly
            return False
        frozen = tuple(key)
        if frozen in self.outputs:
            self.hits[item] += 1
            self.pending = frozen
            return True
        self.misses[item] = misses + 1
        self.pending = frozen
        return False

    def token(self, value: Any) -> int:
        """A small int that two values share only if their canonical forms are equal."""
        stable = id(value) in self.kept or _frozen_fields(type(value)) is not None
        table = self.frozen if stable else self.per_file
        known = table.get(id(value))
        if known is not None and known[0] is value:
            return known[1]
        form = canonical(value)
        token = self.interned.setdefault(form, len(self.interned))
        table[id(value)] = (value, token)
        return token

    @pass_context
    def last(self, context, item: int) -> Any:
        return self.outputs[self.pending]

    @pass_context
    def keep(self, context, value: Any, item: int) -> Any:
        """A {% set %} value, kept as it is: the next file with the same key gets this very
        object (no template can change it: see rewrite), so its token is worked out once."""
        if self.pending is not None:
            self.outputs[self.pending] = value
            self.kept.add(id(value))
            self.pending = None
        return value

    @pass_context
    def store(self, context, value: Any, item: int) -> str:
        text = str(value)  # what Jinja's output of the plain fragment would have written
        if self.pending is not None:
            self.outputs[self.pending] = text
            self.pending = None
        return text


_UNRESOLVED = object()


def _follow(env, value: Any, path: Path_) -> Any:
    """value.attr["item"]... as Jinja resolves it; _UNRESOLVED where it would be undefined."""
    for kind, step in path:
        if isinstance(value, Undefined):
            return _UNRESOLVED
        value = env.getattr(value, step) if kind == "attr" else env.getitem(value, step)
    return _UNRESOLVED if isinstance(value, Undefined) else value


def _may_change_state(call: nodes.Call) -> bool:
    callee = call.node
    if isinstance(callee, nodes.Getattr):
        return callee.attr not in PURE_METHODS
    return isinstance(callee, nodes.Name) and callee.name in STATEFUL_GLOBALS


def _const(value: Any, lineno: int) -> nodes.Const:
    return nodes.Const(value, lineno=lineno)


def _plain_read(node: nodes.Node) -> bool:
    """A bare variable or attribute chain: `model.name`, `p["type"]`."""
    while isinstance(node, (nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getitem) and not isinstance(node.arg, nodes.Const):
            return False
        node = node.node
    return isinstance(node, nodes.Name)


# --------------------------------------------------------------------------------------------
# What a fragment reads


def fragment_deps(node: nodes.Node) -> list[Dep] | None:
    """The (root name, path) pairs the fragment's output depends on, or None when it cannot be
    memoized (see the module docstring)."""
    bound_anywhere = {
        name.name for name in node.find_all(nodes.Name) if name.ctx in ("store", "param")
    }
    deps: set[Dep] = set()
    try:
        _Reader(bound_anywhere, deps).statement(node, frozenset(), in_loop=False)
    except _NotPure:
        return None
    return sorted(deps, key=repr)


class _Reader:
    def __init__(self, bound_anywhere: set[str], deps: set[Dep]):
        self.bound_anywhere = bound_anywhere
        self.deps = deps

    def body(self, body: list[nodes.Node], bound: frozenset[str], in_loop: bool) -> None:
        for node in body:
            bound = self.statement(node, bound, in_loop)

    def statement(self, node: nodes.Node, bound: frozenset[str], in_loop: bool) -> frozenset[str]:
        """Read one statement; returns the names bound after it."""
        if isinstance(node, nodes.If):
            self.expression(node.test, bound)
            self.body(node.body, bound, in_loop)
            for branch in node.elif_:
                self.expression(branch.test, bound)
                self.body(branch.body, bound, in_loop)
            self.body(node.else_, bound, in_loop)
            return bound  # a name set in one branch only is not known to be set after it
        if isinstance(node, nodes.For):
            if node.recursive:
                raise _NotPure
            self.expression(node.iter, bound)
            inner = bound | _names(node.target) | {"loop"}
            if node.test is not None:
                self.expression(node.test, inner)
            self.body(node.body, inner, in_loop=True)
            self.body(node.else_, bound, in_loop)
            return bound
        if isinstance(node, nodes.Assign):
            # Only inside a loop body does a {% set %} end with the fragment (Jinja scopes it).
            if not in_loop or not isinstance(node.target, (nodes.Name, nodes.Tuple)):
                raise _NotPure
            self.expression(node.node, bound)
            return bound | _names(node.target)
        if isinstance(node, nodes.Output):
            for child in node.nodes:
                if not isinstance(child, nodes.TemplateData):
                    self.expression(child, bound)
            return bound
        if isinstance(node, _EXPRESSIONS):
            self.expression(node, bound)
            return bound
        raise _NotPure  # blocks, macros, includes, imports, with, filter blocks, ...

    def expression(self, node: nodes.Node, bound: frozenset[str]) -> None:
        if not isinstance(node, _EXPRESSIONS):
            raise _NotPure
        if isinstance(node, (nodes.Name, nodes.Getattr, nodes.Getitem)):
            self.chain(node, bound)
            return
        if isinstance(node, nodes.Call):
            callee = node.node
            if isinstance(callee, nodes.Name):
                if callee.name not in PURE_CALLS or callee.name in self.bound_anywhere:
                    raise _NotPure
            elif isinstance(callee, nodes.Getattr) and callee.attr in PURE_METHODS:
                self.expression(callee.node, bound)
            else:
                raise _NotPure
            self.arguments(node, bound)
            return
        if isinstance(node, nodes.Filter):
            if node.name in IMPURE_FILTERS or node.name.startswith("_mf_") or node.node is None:
                raise _NotPure
            self.expression(node.node, bound)
            self.arguments(node, bound)
            return
        for child in node.iter_child_nodes():
            self.expression(child, bound)

    def arguments(self, node: nodes.Node, bound: frozenset[str]) -> None:
        for argument in node.args:
            self.expression(argument, bound)
        for keyword in node.kwargs:
            self.expression(keyword.value, bound)
        for extra in (node.dyn_args, node.dyn_kwargs):
            if extra is not None:
                self.expression(extra, bound)

    def chain(self, node: nodes.Node, bound: frozenset[str]) -> None:
        """model.params["steps"] reads the path (params, steps) of the root `model`."""
        steps: list[tuple[str, Any]] = []
        while True:
            if isinstance(node, nodes.Getattr):
                steps.append(("attr", node.attr))
                node = node.node
            elif isinstance(node, nodes.Getitem):
                arg = node.arg
                if isinstance(arg, nodes.Const) and type(arg.value) in (str, int):
                    steps.append(("item", arg.value))
                else:  # x[y].z: the key depends on all of x
                    self.expression(arg, bound)
                    steps = []
                node = node.node
            elif isinstance(node, nodes.Name):
                name = node.name
                if name in bound:
                    return
                if name in self.bound_anywhere or name in SPECIAL_NAMES:
                    raise _NotPure  # read where the fragment's own binding may not hold
                self.deps.add((name, tuple(reversed(steps))))
                return
            else:
                self.expression(node, bound)
                return


def _names(target: nodes.Node) -> frozenset[str]:
    return frozenset(name.name for name in target.find_all(nodes.Name)) | (
        {target.name} if isinstance(target, nodes.Name) else set()
    )


# --------------------------------------------------------------------------------------------
# Keys

_FIELDS: dict[type, tuple[str, ...] | None] = {}


def canonical(value: Any) -> Any:
    """A hashable form of value that two values share only if a template sees them alike."""
    kind = type(value)
    if kind is str:
        return value
    if kind is int or kind is bool or value is None:
        return (kind, value)
    if kind is float or kind is Decimal:
        return (kind, repr(value))  # -0.0 and 0.0, nan: repr tells them apart
    if kind is list or kind is tuple:
        return (kind, tuple(canonical(item) for item in value))
    if kind is dict:
        return (kind, tuple((canonical(k), canonical(v)) for k, v in value.items()))
    if isinstance(value, Undefined):
        obj = value._undefined_obj
        return (
            kind,
            value._undefined_name,
            value._undefined_hint,
            value._undefined_exception,
            "missing" if obj is missing else canonical(obj),
        )
    names = _frozen_fields(kind)
    if names is None:
        raise Uncanonical(kind.__name__)
    return (kind, tuple(canonical(getattr(value, name)) for name in names))


def _frozen_fields(kind: type) -> tuple[str, ...] | None:
    names = _FIELDS.get(kind, ())
    if names == ():
        params = getattr(kind, "__dataclass_params__", None)
        if params is None or not params.frozen:
            names = None
        else:
            names = tuple(field.name for field in dataclasses.fields(kind))
        _FIELDS[kind] = names
    return names

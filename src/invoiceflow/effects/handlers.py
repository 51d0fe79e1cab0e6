"""Effect handlers: the code that actually calls the ERP, the tax service, the mail server or a webhook.

A handler is `handler(effect: EffectView, context: EffectContext) -> dict`: the dict is stored as the
effect's result. It raises `Transient` (retry with backoff) or `Permanent` (dead-letter now) from
effects/errors.py; any other exception is a bug or an unforeseen fault and counts as Transient with the
exception's text, so a flaky dependency is retried rather than lost, and the traceback is logged.

Handlers must be idempotent on `effect.idempotency_key`: a worker can die after the target acted but before
the outcome was recorded, and the effect then runs again. Pass the key on (Idempotency-Key header, ERP
external id, Message-ID) so the target itself drops the repeat.

Handlers live in a `HandlerRegistry`. `registry` is the process-wide one that `register` fills; runners
take a registry, so tests and workers can run with exactly the handlers they mean to. `load_handlers`
fills it with every kind invoiceflow ships (BUILT_IN_HANDLERS) plus an operator's own modules: what
`invoiceflow worker` and `invoiceflow effects run` run with.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from sqlalchemy import Engine

from invoiceflow.clock import Clock
from invoiceflow.effects.model import EffectView
from invoiceflow.errors import NotFound
from invoiceflow.effects.policy import RetryPolicy, policy_for


@dataclass(frozen=True, slots=True)
class EffectContext:
    """What a handler gets besides the effect: the database, the clock, and which run this is."""

    engine: Engine
    clock: Clock
    attempt: int  # 1-based number of this attempt
    worker: str  # the claim token of this run, for logs on the target side


Handler = Callable[[EffectView, EffectContext], Mapping[str, Any]]


class HandlerRegistry:
    """Handlers and, optionally, retry policies by effect kind."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._policies: dict[str, RetryPolicy] = {}

    def register(self, kind: str, handler: Handler | None = None, *, policy: RetryPolicy | None = None,
                 replace: bool = False):
        """Register `handler` for `kind` (or use as a decorator: `@registry.register("email.send")`).

        A kind has one handler: registering a second is refused unless `replace`, because two modules
        silently fighting over "erp.post" would send postings to the wrong ERP.
        """
        if not kind or kind != kind.strip():
            raise ValueError(f"effect kind must be a non-empty name without surrounding spaces, got {kind!r}")

        def add(fn: Handler) -> Handler:
            if not callable(fn):
                raise TypeError(f"handler for effect kind {kind!r} is not callable: {fn!r}")
            if kind in self._handlers and self._handlers[kind] is not fn and not replace:
                raise ValueError(f"effect kind {kind!r} already has a handler "
                                 f"({_name(self._handlers[kind])}); pass replace=True to swap it")
            self._handlers[kind] = fn
            if policy is not None:
                self._policies[kind] = policy
            return fn

        return add if handler is None else add(handler)

    def get(self, kind: str) -> Handler | None:
        return self._handlers.get(kind)

    def kinds(self) -> frozenset[str]:
        return frozenset(self._handlers)

    def policy(self, kind: str) -> RetryPolicy:
        """The kind's retry policy: one registered with its handler, else the built-in default."""
        return policy_for(kind, self._policies)

    def __contains__(self, kind: object) -> bool:
        return kind in self._handlers


registry = HandlerRegistry()

# The kinds invoiceflow ships a handler for, and the module whose import registers it. Named, not imported,
# so that this module stays below the ones that send. "peppol.send" is absent: its handler needs the
# operator's access-point adapter (documents/peppol.py), so it comes from a --handlers module.
BUILT_IN_HANDLERS = {
    "erp.post": "invoiceflow.ledger.erp_posting",
    "email.send": "invoiceflow.documents.delivery",
    "webhook.deliver": "invoiceflow.webhooks",
}


def register(kind: str, handler: Handler | None = None, *, policy: RetryPolicy | None = None,
             replace: bool = False):
    """Register a handler in the process-wide registry (also usable as a decorator)."""
    return registry.register(kind, handler, policy=policy, replace=replace)


def import_handler_modules(modules: Iterable[str]) -> list[str]:
    """Import modules whose import registers handlers (the worker's and `effects run`'s --handlers)."""
    imported = []
    for name in (m.strip() for m in modules):
        if not name:
            continue
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise NotFound(f"cannot import effect handler module {name!r}: {exc}") from exc
        imported.append(name)
    return imported


def load_handlers(modules: Iterable[str] = ()) -> HandlerRegistry:
    """The process-wide registry: the handlers `modules` register, then every built-in kind they left free.

    The operator's modules go first, so a built-in module whose kind one of them took over (its own mail
    sender, registered with replace=True in case ours came first) is not even imported.
    """
    import_handler_modules(modules)
    import_handler_modules(module for kind, module in BUILT_IN_HANDLERS.items() if kind not in registry)
    return registry


def _name(fn: Any) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"

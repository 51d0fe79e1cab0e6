"""Effects: every external side effect is a row written with the business change, run after commit.

Business code calls `enqueue` inside its transaction; handlers registered with `register` do the sending;
`InlineRunner` (embedded) or `invoiceflow worker` (procrastinate on PostgreSQL) runs them. See docs/effects.md.
"""

from invoiceflow.effects.errors import EffectError, Permanent, Transient
from invoiceflow.effects.handlers import EffectContext, HandlerRegistry, register, registry
from invoiceflow.effects.model import AttemptView, EffectRef, EffectView
from invoiceflow.effects.operations import replay_effect, retry_effect
from invoiceflow.effects.outbox import enqueue, get_effect, list_attempts, list_effects
from invoiceflow.effects.policy import RetryPolicy
from invoiceflow.effects.runner import InlineRunner, RunReport, SweepReport, sweep

__all__ = [
    "AttemptView", "EffectContext", "EffectError", "EffectRef", "EffectView", "HandlerRegistry", "InlineRunner",
    "Permanent", "RetryPolicy", "RunReport", "SweepReport", "Transient", "enqueue", "get_effect", "list_attempts",
    "list_effects", "register", "registry", "replay_effect", "retry_effect", "sweep",
]

"""Log lines for names the catalog does not know, once per name for the life of the process.

A misspelt provider or pricing mode is not an error: capture must never raise, and a
self-hosted provider is legitimately unknown. But it must not pass silently either, or
`track(pricing_mode="bacth")` records standard rates with no word said. So an unknown mode,
or an unknown provider that looks like a known one, is a WARNING with a "did you mean"; a
model that nothing prices is an INFO line. Each is said once: the sets below are checked
before anything is formatted, so a name seen before costs one set lookup.
"""

from __future__ import annotations

import logging

from ..pricing import Pricer

__all__ = ["unknown_mode", "unpriced"]

log = logging.getLogger("llmledger")

_modes_said: set[str] = set()
_providers_said: set[str] = set()
_unpriced_said: set[tuple[str, str]] = set()


def unknown_mode(pricer: Pricer, mode: str) -> None:
    """Warn, once per mode, that `mode` names no rates and the call is priced as standard."""
    if mode in _modes_said:
        return
    _modes_said.add(mode)
    guess = pricer.closest_mode(mode)
    hint = f"did you mean {guess!r}? " if guess else ""
    log.warning(
        "llmledger: unknown pricing mode %r; %scalls in it are priced at standard rates "
        "(known modes: %s)",
        mode,
        hint,
        ", ".join(pricer.modes),
    )


def unpriced(pricer: Pricer, provider: str, model: str) -> None:
    """Say, once per (provider, model), that no price is known: the call is recorded with a
    null cost. A provider name close to a known one is also a warning, once per name."""
    if (provider, model) in _unpriced_said:
        return
    _unpriced_said.add((provider, model))
    if provider not in _providers_said and not pricer.knows_provider(provider):
        _providers_said.add(provider)
        guess = pricer.closest_provider(provider)
        if guess is not None:
            log.warning(
                "llmledger: unknown provider %r; did you mean %r? Its calls are recorded unpriced",
                provider,
                guess,
            )
    log.info("llmledger: no price for %s/%s; its calls are recorded unpriced", provider, model)

"""Celery: the tags in scope when a task is sent are in scope while it runs in the worker.

    import llmledger.integrations.celery
    llmledger.integrations.celery.propagate_tags(app)   # in the app module, client and worker

    with llmledger.tags(tenant="acme", feature="digest"):
        summarise.delay(doc_id)          # its LLM calls are recorded with tenant and feature

The tags travel in the task message's `llmledger_tags` header (a JSON object of strings) and
are entered, exactly as sent, around the task's run in the worker (`task_prerun` to
`task_postrun`), over whatever the worker's own scope holds. Tags set inside a task reach
the tasks it sends. Call it on both sides: the sending process adds the header, the worker
reads it. A task sent without the header runs in the worker's own scope.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, Task
from celery.signals import before_task_publish, task_postrun, task_prerun

from .. import tagging
from ..capture.sink import report_problem

__all__ = ["HEADER", "propagate_tags"]

HEADER = "llmledger_tags"
"""The message header that carries the tags."""

# The apps whose workers enter the tags, and the scopes entered for tasks running now (by
# task id: prerun and postrun run on the task's own thread, in order).
_apps: set[int] = set()
_running: dict[str, tagging.tags] = {}


def propagate_tags(app: Celery) -> None:
    """Carry the tag scope from where `app`'s tasks are sent to where they run. Idempotent."""
    _apps.add(id(app))
    # Celery's signals are process-wide; the dispatch ids connect each handler once.
    before_task_publish.connect(_add_header, weak=False, dispatch_uid="llmledger.celery.publish")
    task_prerun.connect(_enter, weak=False, dispatch_uid="llmledger.celery.prerun")
    task_postrun.connect(_leave, weak=False, dispatch_uid="llmledger.celery.postrun")


def _add_header(sender: Any = None, headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    scoped = tagging.snapshot()
    if scoped and headers is not None:
        headers[HEADER] = dict(scoped)


def _enter(sender: Any = None, task_id: str | None = None, task: Task | None = None,
           **kwargs: Any) -> None:  # fmt: skip
    if task is None or task_id is None or id(task.app) not in _apps:
        return
    sent = getattr(task.request, HEADER, None)
    if not sent:
        return
    try:
        scope = tagging.tags(**sent)
    except (TypeError, ValueError):  # a header that is not a tag mapping: run without tags
        report_problem("tags", "task %s: its %s header is not tags; it runs without them",
                       task_id, HEADER)  # fmt: skip
        return
    scope.__enter__()
    _running[task_id] = scope


def _leave(sender: Any = None, task_id: str | None = None, **kwargs: Any) -> None:
    scope = _running.pop(task_id, None) if task_id is not None else None
    if scope is not None:
        scope.__exit__(None, None, None)

"""Integrations: tags from web frameworks and task queues, usage from libraries that make the
calls themselves. One module per library, each an optional extra, imported only by the app:
`import llmledger` imports none of them, nor any framework.

- `starlette.TagsMiddleware` (FastAPI too), `django.TagsMiddleware`, `flask.init_app`: the
  tags of a web request, in scope while its view runs and its streamed body is sent.
- `celery.propagate_tags(app)`: the tags in scope when a task is sent are in scope while it
  runs in the worker.
- `litellm.callback()`, `langchain.Handler()`: each call those libraries make, recorded from
  the usage they report.
- `otel.SpanProcessor()`: each OpenTelemetry span that follows the GenAI semantic conventions,
  recorded from its usage attributes.

A call reported by LiteLLM, LangChain or a span whose SDK client is also instrumented is
recorded once: see `llmledger.capture.seen` and docs/integrations.md.
"""

__all__: list[str] = []

"""Importing llmledger, or its integrations package, imports no framework or library."""

from __future__ import annotations

import subprocess
import sys

FRAMEWORKS = ("starlette", "django", "flask", "celery", "litellm", "langchain_core",
              "opentelemetry")  # fmt: skip


def test_importing_llmledger_imports_no_framework() -> None:
    code = (
        "import sys, llmledger, llmledger.integrations\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FRAMEWORKS!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_each_integration_imports_only_its_own_library() -> None:
    code = (
        "import sys, llmledger.integrations.flask\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({FRAMEWORKS!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['flask']"

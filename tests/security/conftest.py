"""Security tests drive the real bot over HTTP, like the end-to-end tests (same fixtures)."""

from tests.e2e.conftest import make_stack, stack  # noqa: F401 - fixtures shared with tests/e2e

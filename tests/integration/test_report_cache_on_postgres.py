"""The report cache suite (test_report_cache.py) once more, with Phoenix on a private PostgreSQL cluster."""

from __future__ import annotations

from tests.integration.on_postgres import live_stack_on_postgres, test_this_run_is_on_the_private_cluster  # noqa: F401
from tests.integration.test_report_cache import *  # noqa: F403 - the suite itself, run again
from tests.integration.test_report_cache import _the_test_stacks_environment  # noqa: F401 - autouse

"""``python -m claude_session.testing.fake_upstream [--host H] [--port N] [...]``: see :mod:`.server`."""

import sys

from claude_session.testing.fake_upstream.server import main

if __name__ == "__main__":
    sys.exit(main())

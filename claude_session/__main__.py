import sys

from claude_session.cli import main

sys.exit(main())

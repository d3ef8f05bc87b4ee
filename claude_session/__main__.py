import sys

from claude_session.cli.main import main

sys.exit(main())

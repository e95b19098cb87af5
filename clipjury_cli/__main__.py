"""``python -m clipjury_cli``: the ``clipjury`` command, as run-local and the tests start it."""

import sys

from clipjury_cli.main import main

sys.exit(main())

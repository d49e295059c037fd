"""``python -m replications``: the runner's command line (:mod:`replications.runner.cli`)."""

import sys

from replications.runner.cli import main

if __name__ == "__main__":
    sys.exit(main())

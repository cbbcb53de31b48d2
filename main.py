"""`python main.py` starts the service: API and Temporal worker in one process (= `xorb serve`)."""

import sys

from xorb_orchestrator.cli.main import main

if __name__ == "__main__":
    main(["serve", *sys.argv[1:]])

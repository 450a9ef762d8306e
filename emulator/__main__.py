"""`python -m emulator` is `cxemu`."""

from emulator.cli import main

raise SystemExit(main())

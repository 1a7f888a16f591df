"""``python -m simulator`` is ``loadsim``."""

from simulator.cli import main

raise SystemExit(main())

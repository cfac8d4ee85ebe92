"""``python -m yotsuba``: the same as the ``yotsuba`` command."""

from yotsuba.cli import main

raise SystemExit(main())

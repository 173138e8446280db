"""``python -m lead <command>``: the same as the ``lead`` command."""

from lead.cli import main

raise SystemExit(main())

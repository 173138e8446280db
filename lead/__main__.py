"""``python -m lead <command>``: the same as the ``lead`` command."""

from lead.cli import main

# Guarded: vLLM starts its engine in a spawned process, which imports this module again.
if __name__ == "__main__":
    raise SystemExit(main())

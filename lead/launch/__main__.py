"""``python -m lead.launch``: the launch scripts' entry point (as ``lead launch``)."""

import argparse
import sys

from lead.launch.cli import add_arguments, run

parser = argparse.ArgumentParser(prog="lead launch", description=__doc__)
add_arguments(parser)
sys.exit(run(parser.parse_args()))

"""Hostile: leaves the process as soon as it is imported."""

import sys

sys.exit("bye")

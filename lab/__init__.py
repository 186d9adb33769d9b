"""A real multi-node Docker Swarm on one host, for tests and by hand.

    lab = Lab(LabConfig(managers=3, workers=1))
    lab.up()                     # ~5 s; removes leftovers of an earlier run first
    lab.stop_engine("m2"); lab.restore()
    lab.down()                   # removes every trace

or `python -m lab up|status|down` (see __main__.py). Needs root and
dockerd 20.10; everything else goes wrong with a one-line LabError.
"""

from lab.config import IMAGE, LabConfig
from lab.errors import LabError
from lab.node import Node
from lab.swarm import NO_LEADER, Lab

__all__ = ["IMAGE", "NO_LEADER", "Lab", "LabConfig", "LabError", "Node"]

"""The former name of ``python -m grafana.build``, which now writes the rule files too.

Kept so that ``python -m grafana.build_dashboards [--check]`` still works: it runs the
same build, dashboards and rules alike.
"""

from __future__ import annotations

import sys

from grafana.build import main

if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The strict local AWS: a proxy in front of moto that adds latency, injects faults, refuses and
delays what AWS does and records requests. It lives in scripts/localaws/ (server.py and one module
per concern; their docstrings say what each does); this is its command line, as the tests, the
demos and the bench run it:

  python3 scripts/ec2_proxy.py --upstream http://127.0.0.1:5000 --port 5001 [--latency-ms MS]
      [--fault-rate R] [--seed S] [--record DIR]      (EC2_PROXY_RECORD_DIR=DIR records too)

Only the standard library, so any python3 runs it.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from localaws.server import main  # noqa: E402

if __name__ == "__main__":
    main()

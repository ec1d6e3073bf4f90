"""`make iam-check`: checks the record files (or directories of them) given, against the templates
as they are now, so a changed template is checked without running the tests again."""

import argparse
import os
import sys

from .check import check, report


def main(argv=None):
    parser = argparse.ArgumentParser(prog="iamcheck", description=__doc__.splitlines()[0])
    parser.add_argument("records", nargs="+", help="record files of scripts/ec2_proxy.py, or directories of them")
    parser.add_argument("--template", action="append", default=[], metavar="NAME=PATH",
                        help="read PATH where a deployment names template NAME (e.g. template.yaml=changed.yaml)")
    args = parser.parse_args(argv)
    templates = dict(t.split("=", 1) for t in args.template)
    missing = [path for path in args.records if not os.path.exists(path)]
    if missing:
        print(f"iam-check: no records at {', '.join(missing)}: `make test` makes them", file=sys.stderr)
        return 1
    result = check(args.records, templates)
    return report(result, templates)


if __name__ == "__main__":
    sys.exit(main())

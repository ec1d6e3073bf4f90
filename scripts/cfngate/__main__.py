"""`python -m cfngate` (make template-check): the deploy gate over the three templates and every
documented parameter set; exits 1 naming each finding."""

import sys
import time

from . import check, sets


def main():
    started = time.monotonic()
    documented = sets.documented()
    findings = check.run(documented)
    for template, name, finding in findings:
        print(f"{template}{f' [{name}]' if name else ''}: {finding}")
    counts = {}
    for _, template, _, _ in documented:
        counts[template] = counts.get(template, 0) + 1
    summary = ", ".join(f"{t} x {n} sets" for t, n in counts.items())
    verdict = f"{len(findings)} findings" if findings else "nothing CloudFormation would refuse"
    print(f"cfngate: {summary}: {verdict} ({time.monotonic() - started:.1f} s)")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())

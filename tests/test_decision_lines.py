"""scripts/decision_lines.py: it passes the lines the bootstrap writes and catches each way a line
would publish no metric to CloudWatch."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "decision_lines.py"

GOOD = {
    "level": "INFO", "message": "decision", "verdict": "fail_over", "active": "i-1", "target": "i-2",
    "function": "f", "Decisions": 1, "Failovers": 1, "Serving": 1,
    "_aws": {"Timestamp": 1_790_000_000_000, "CloudWatchMetrics": [
        {"Namespace": "ec2-failover", "Dimensions": [["function", "verdict"]], "Metrics": [{"Name": "Decisions", "Unit": "Count"}]},
        {"Namespace": "ec2-failover", "Dimensions": [["function"]], "Metrics": [{"Name": "Failovers", "Unit": "Count"}]},
        {"Namespace": "ec2-failover", "Dimensions": [["function", "active"]], "Metrics": [{"Name": "Serving", "Unit": "Count"}]},
    ]},
}


def run(tmp_path, lines, *expect):
    log = tmp_path / "function.log"
    log.write_text("".join((json.dumps(l) if isinstance(l, dict) else l) + "\n" for l in lines))
    args = [sys.executable, str(SCRIPT), str(log)] + [a for v in expect for a in ("--expect", v)]
    return subprocess.run(args, capture_output=True, text=True)


def broken(change):
    line = json.loads(json.dumps(GOOD))
    change(line)
    return line


def test_a_good_line_among_other_output_passes(tmp_path):
    result = run(tmp_path, [" INFO Lambda runtime invoke", '{"level":"WARN","message":"other"}', GOOD], "fail_over")
    assert result.returncode == 0, result.stderr
    assert "fail_over" in result.stdout


def test_each_broken_rule_fails(tmp_path):
    cases = {
        "no _aws member": broken(lambda l: l.pop("_aws")),
        "dimension active": broken(lambda l: l.pop("active")),
        "dimension function": broken(lambda l: l.update(function=" ")),
        "metric Failovers": broken(lambda l: l.update(Failovers="1")),
        "Timestamp": broken(lambda l: l["_aws"].update(Timestamp=1_790_000_000)),
        "unit": broken(lambda l: l["_aws"]["CloudWatchMetrics"][0]["Metrics"][0].update(Unit="Things")),
        "AwsRequests is 0": broken(lambda l: (l.update(observed={"now": 1}, AwsRequests=0),
                                              l["_aws"]["CloudWatchMetrics"][1]["Metrics"].append(
                                                  {"Name": "AwsRequests", "Unit": "Count"}))),
    }
    for problem, line in cases.items():
        result = run(tmp_path, [line])
        assert result.returncode == 1, problem
        assert problem in result.stderr, (problem, result.stderr)


def test_a_missing_verdict_or_no_decision_at_all_fails(tmp_path):
    assert "no switchover decision" in run(tmp_path, [GOOD], "switchover").stderr
    assert "no decision line" in run(tmp_path, ["plain text only"]).stderr

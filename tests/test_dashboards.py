"""Both templates' failover alarm and dashboard against the metrics the decision line publishes
(src/record.rs): a metric, namespace or dimension spelt differently here would alarm on nothing and
graph nothing, silently. Also: every alarm that always exists is on the dashboard, the log widget reads the function's
log group, each member's CPU and status checks are graphed, and the stack's outputs link to it."""

import json
import pathlib
import re

import pytest
from cfnlint.decode import cfn_yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
RECORD = (ROOT / "src" / "record.rs").read_text()
NAMESPACE = re.search(r'pub const NAMESPACE: &str = "([^"]+)";', RECORD).group(1)
FUNCTION_DIMENSION = re.search(r'pub const FUNCTION: &str = "([^"]+)";', RECORD).group(1)
METRICS = {
    name: (unit, tuple(FUNCTION_DIMENSION if d.strip() == "FUNCTION" else d.strip().strip('"') for d in dims.split(",")))
    for name, unit, dims in re.findall(r'\("(\w+)", "(\w+)", &\[([^\]]*)\]\)', RECORD)
}

# (template, the function's logical id, its log group's, what the dashboard graphs per instance)
TEMPLATES = [
    ("template.yaml", "FailoverFunction", "FailoverLogGroup",
     [("InstanceId", "PrimaryInstanceId"), ("InstanceId", "StandbyInstanceId")]),
    ("template-group.yaml", "FollowFunction", "FollowLogGroup", [("AutoScalingGroupName", "Group")]),
]


def test_the_metrics_are_read_from_the_code():
    assert NAMESPACE == "ec2-failover" and FUNCTION_DIMENSION == "function"
    assert {"Decisions", "Failovers", "Refusals", "Holds", "Serving", "AwsRequests", "Duration"} <= set(METRICS)
    assert METRICS["Decisions"][1] == ("function", "verdict")


def body_of(dashboard):
    """The dashboard's JSON with each ${...} replaced by its name: (widgets, names substituted)."""
    sub = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    text, variables = (sub, {}) if isinstance(sub, str) else (sub[0], sub[1])
    names = re.findall(r"\$\{([^}]+)\}", text)
    numeric = {name for name in variables}
    resolved = re.sub(r"\$\{([^}]+)\}", lambda m: "60" if m.group(1) in numeric else m.group(1), text)
    return json.loads(resolved)["widgets"], set(names), variables


@pytest.mark.parametrize("template,function,log_group,per_instance", TEMPLATES)
def test_the_failover_alarm_watches_the_metric_the_function_publishes(template, function, log_group, per_instance):
    resources = cfn_yaml.load(str(ROOT / template))["Resources"]
    alarm = resources["FailoverAlarm"]["Properties"]
    assert alarm["Namespace"] == NAMESPACE
    unit, dimensions = METRICS[alarm["MetricName"]]
    assert alarm["MetricName"] == "Failovers" and unit == "Count"
    assert [d["Name"] for d in alarm["Dimensions"]] == list(dimensions)
    assert alarm["Dimensions"][0]["Value"] == {"Ref": function}
    assert alarm["Statistic"] == "Sum" and alarm["Threshold"] == 1
    # EMF data arrive after the log is shipped: one datum within the window alarms.
    assert alarm["DatapointsToAlarm"] == 1 and alarm["EvaluationPeriods"] >= 3
    assert alarm["TreatMissingData"] == "notBreaching"
    # It tells the people, never the function.
    assert alarm["AlarmActions"] == {"Fn::If": ["HasAlertTopic", [{"Ref": "AlertTopicArn"}], {"Ref": "AWS::NoValue"}]}


@pytest.mark.parametrize("template,function,log_group,per_instance", TEMPLATES)
def test_the_dashboard_graphs_what_the_function_publishes_and_what_an_operator_needs(
        template, function, log_group, per_instance):
    loaded = cfn_yaml.load(str(ROOT / template))
    resources, parameters = loaded["Resources"], loaded["Parameters"]
    widgets, names, variables = body_of(resources["Dashboard"])
    # Every substitution names a variable, a parameter, a resource or a pseudo parameter.
    for name in names:
        base = name.split(".")[0]
        assert base in variables or base in parameters or base in resources or base.startswith("AWS::"), name

    graphed, searched = [], []
    for widget in widgets:
        for row in widget["properties"].get("metrics", []):
            if isinstance(row[0], dict):
                searched.append(row[0]["expression"])
                continue
            fields = [f for f in row if not isinstance(f, dict)]
            namespace, metric, pairs = fields[0], fields[1], fields[2:]
            graphed.append((namespace, metric, dict(zip(pairs[::2], pairs[1::2]))))
    ours = [(m, d) for ns, m, d in graphed if ns == NAMESPACE]
    assert {"Failovers", "Refusals", "AwsRequests", "Duration"} <= {m for m, _ in ours}
    for metric, dimensions in ours:
        assert tuple(dimensions) == METRICS[metric][1], metric
        assert dimensions[FUNCTION_DIMENSION] == function
    # SEARCH('{"namespace",dimension,...} MetricName="X" function="F"', ...): a namespace with a
    # character other than letters and digits is quoted (CloudWatch, "Search expression syntax").
    for expression in searched:
        schema = re.search(r"SEARCH\('\{([^}]+)\} MetricName=\"(\w+)\" function=\"(\w+)\"'", expression)
        assert schema, expression
        keys, metric, named = schema.group(1).split(","), schema.group(2), schema.group(3)
        assert keys[0] == f'"{NAMESPACE}"' and tuple(keys[1:]) == METRICS[metric][1], expression
        assert named == function
    assert {re.search(r'MetricName="(\w+)"', e).group(1) for e in searched} == {"Serving", "Decisions"}
    # Each member's CPU and status checks.
    for dimension, value in per_instance:
        for metric in ("CPUUtilization", "StatusCheckFailed"):
            assert ("AWS/EC2", metric, {dimension: value}) in graphed, (metric, value)
    assert ("AWS/Lambda", "Errors", {"FunctionName": function}) in graphed
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": "FailureQueue.QueueName"}) in graphed
    # Every alarm of the stack, and the decision log.
    (alarms,) = [w["properties"]["alarms"] for w in widgets if w["type"] == "alarm"]
    # (A conditional alarm cannot be named in the body: it may not exist.)
    assert sorted(alarms) == sorted(f"{n}.Arn" for n, r in resources.items()
                                    if r["Type"] == "AWS::CloudWatch::Alarm" and "Condition" not in r)
    (query,) = [w["properties"]["query"] for w in widgets if w["type"] == "log"]
    assert query.startswith(f"SOURCE '{log_group}' |") and "verdict" in query and "active" in query
    # No two widgets overlap on the 24-column grid.
    cells = set()
    for w in widgets:
        mine = {(x, y) for x in range(w["x"], w["x"] + w["width"]) for y in range(w["y"], w["y"] + w["height"])}
        assert not cells & mine, w["properties"]["title"]
        assert w["x"] + w["width"] <= 24
        cells |= mine
    # The stack links to it.
    url = loaded["Outputs"]["DashboardUrl"]["Value"]["Fn::Sub"]
    assert "#dashboards/dashboard/${Dashboard}" in url

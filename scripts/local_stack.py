#!/usr/bin/env python3
"""Deploys a template into the local AWS the way CloudFormation would, so that the demos run the
function with the environment, the alarms, the EventBridge rules and the role the stack made.

1. The deploy gate (scripts/cfngate) first: a set CloudFormation would refuse is refused here.
2. The template as CloudFormation resolves it for the set (samtranslator, Conditions, Fn::If,
   parameters): moto's CloudFormation cannot evaluate an Fn::If that yields AWS::NoValue in a list.
3. moto's CloudFormation creates the types it knows (IAM roles and policies, the Lambda function
   and its permissions, EventBridge rules, SQS, SNS topics, Route 53 health checks, log groups, the
   dashboard, security groups). The types it does not know (NOT_IN_MOTO) are created from their
   resolved properties through the same local AWS, after the stack: CloudWatch alarms
   (PutMetricAlarm), Lambda's asynchronous invocation settings, SNS subscriptions and topic
   policies; a WaitConditionHandle is only a name. Their names and ARNs are fixed first, so that
   the stack's resources that refer to them (an alarm's permission) name the real ones. What moto
   leaves out of a type it knows is done the same way (IGNORED_BY_MOTO).
4. What was made is written as JSON (`describe`): the function's environment and ARN, its role,
   the EventBridge rules that target it, the alarms whose actions invoke it. `delivers` says
   whether an event the demo sends is one of those rules or alarms would deliver: a rule pattern
   that misses the pair, or an alarm that does not invoke the function, fails the demo.

Usage:
  local_stack.py deploy TEMPLATE STACK_NAME OUT.json [KEY=VALUE ...]
  local_stack.py env OUT.json                 the function's environment as KEY=VALUE lines
  local_stack.py delivers OUT.json EVENT.json exit 1 unless a rule or alarm of the stack delivers it
  local_stack.py alarm OUT.json LOGICAL_ID EVENT.json [ALARM | INSUFFICIENT_DATA]
                                              the stack's alarm goes to ALARM; EVENT.json is what
                                              its Lambda action sends
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# The deployment itself is the package's; deploy and Refused are also local_aws.py's and the tests'.
from localaws.stack import ACCOUNT, Refused, client, deploy  # noqa: E402


def delivers(description, event):
    """Why the stack delivers `event` to the function, or None: an EventBridge rule whose pattern
    matches it (EventBridge's own matcher), a schedule rule for a scheduled event, an alarm of the
    stack that invokes the function for an alarm action."""
    if isinstance(event, dict) and "command" in event:
        return "an operator's direct invocation (lambda:InvokeFunction)"
    if isinstance(event, dict) and event.get("source") == "aws.cloudwatch" and "alarmData" in event:
        name = event.get("alarmData", {}).get("alarmName")
        key = "invokes_on_insufficient_data" if event["alarmData"].get("state", {}).get("value") == "INSUFFICIENT_DATA" \
            else "invokes"
        ok = [a for a in description["alarms"] if a["name"] == name and a.get(key)]
        return f"alarm {name} invokes the function" if ok else None
    if isinstance(event, dict) and event.get("detail-type") == "Scheduled Event":
        ok = [r for r in description["rules"] if r["schedule"] and r["state"] == "ENABLED"]
        return f"schedule rule {ok[0]['name']} ({ok[0]['schedule']})" if ok else None
    # moto serves no TestEventPattern; its EventBridge matches rules with this class.
    from moto.events.models import EventPattern, EventPatternParser

    for rule in description["rules"]:
        if rule["pattern"] and rule["state"] == "ENABLED":
            pattern = EventPattern(rule["pattern"], EventPatternParser(rule["pattern"]).parse())
            if isinstance(event, dict) and pattern.matches_event(event):
                return f"rule {rule['name']} matches it"
    return None


def alarm_action(description, logical, reason, state="ALARM"):
    """CloudWatch puts the stack's alarm `logical` into `state` (ALARM, or INSUFFICIENT_DATA: its
    metric went silent); returns the payload its Lambda action
    sends (Lambda Developer Guide, "Using Lambda with CloudWatch alarms"), built from the alarm as
    CloudWatch holds it: its name, ARN, metric and dimensions."""
    region = description["region"]
    (entry,) = [a for a in description["alarms"] if a["logical"] == logical]
    cloudwatch = client("cloudwatch", region)
    cloudwatch.set_alarm_state(AlarmName=entry["name"], StateValue=state, StateReason=reason)
    alarm = cloudwatch.describe_alarms(AlarmNames=[entry["name"]])["MetricAlarms"][0]
    now = alarm["StateUpdatedTimestamp"].strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    return {
        "source": "aws.cloudwatch", "alarmArn": alarm["AlarmArn"], "accountId": ACCOUNT, "time": now,
        "region": region,
        "alarmData": {
            "alarmName": alarm["AlarmName"],
            "state": {"value": state, "reason": reason, "timestamp": now},
            "previousState": {"value": "OK", "reason": "", "timestamp": now},
            "configuration": {"description": alarm.get("AlarmDescription", ""), "metrics": [{
                "id": "m1", "returnData": True,
                "metricStat": {"metric": {"namespace": alarm["Namespace"], "name": alarm["MetricName"],
                                          "dimensions": {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}},
                               "period": alarm["Period"], "stat": alarm.get("Statistic", "Maximum")}}]},
        },
    }


def main(argv):
    if len(argv) >= 5 and argv[1] == "deploy":
        template, stack_name, out = argv[2:5]
        given = dict(a.split("=", 1) for a in argv[5:])
        try:
            description = deploy(template, given, stack_name, os.environ.get("AWS_REGION", "us-east-1"))
        except Refused as e:
            sys.exit(str(e))
        with open(out, "w") as f:
            json.dump(description, f, indent=2)
        return
    if len(argv) == 3 and argv[1] == "env":
        with open(argv[2]) as f:
            for key, value in sorted(json.load(f)["function"]["environment"].items()):
                print(f"{key}={value}")
        return
    if len(argv) == 4 and argv[1] == "delivers":
        with open(argv[2]) as f:
            description = json.load(f)
        with open(argv[3]) as f:
            event = json.load(f)
        why = delivers(description, event)
        if why is None:
            sys.exit(f"no rule or alarm of stack {description['stack']} delivers {argv[3]} to the function")
        print(f"  (delivered: {why})")
        return
    if len(argv) in (5, 6) and argv[1] == "alarm":
        with open(argv[2]) as f:
            description = json.load(f)
        state = argv[5] if len(argv) == 6 else "ALARM"
        reason = "Threshold Crossed (make demo)" if state == "ALARM" else "Insufficient Data (make demo)"
        with open(argv[4], "w") as f:
            json.dump(alarm_action(description, argv[3], reason, state), f, indent=2)
        return
    sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)

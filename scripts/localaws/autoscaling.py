"""Auto Scaling: what moto lacks of lifecycle actions.

It also stands in for the two Auto Scaling calls moto does not implement (HTTP 500 there):
  CompleteLifecycleAction         recorded; a second completion of the same (group, hook,
                                  instance) gets AWS's ValidationError "No active Lifecycle Action"
  RecordLifecycleActionHeartbeat  recorded; refused the same way once the action is completed
Both appear in the log like any other request (with "emulated": true), and
GET /_proxy/lifecycle lists the completions: [{"group", "hook", "instance", "result"}].

moto puts every instance straight InService: it never holds one for a hook. The tests and the
demo say which instance a hook holds, as Auto Scaling would have done:
  POST /_proxy/hold  {"group", "hook", "instance", "transition": "launching" | "terminating"}
Until that action is completed, DescribeAutoScalingGroups shows the instance in Pending:Wait (or
Terminating:Wait), putting it back into its group if moto, which terminates at once, dropped it,
and its heartbeat is accepted; without a hold, heartbeats and completions are
accepted as before (an event may well come from a hook moto never saw).

"""

import random
import re

LIFECYCLE = ("CompleteLifecycleAction", "RecordLifecycleActionHeartbeat")
AUTOSCALING_OK = (
    '<{action}Response xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><{action}Result/>'
    "<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
)
AUTOSCALING_ERROR = (
    '<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><Error><Type>Sender</Type>'
    "<Code>{code}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
)
WAIT_STATES = {"launching": "Pending:Wait", "terminating": "Terminating:Wait"}
INNER_MEMBER = re.compile(r"<member>((?:(?!<member>|</member>).)*)</member>", re.S)


def lifecycle(proxy, action, params):
    """Auto Scaling's answer to a lifecycle call moto does not implement."""
    key = (params.get("AutoScalingGroupName"), params.get("LifecycleHookName"), params.get("InstanceId"))
    request_id = f"proxy-{random.getrandbits(32):08x}"
    with proxy.state.lock:
        done = any((c["group"], c["hook"], c["instance"]) == key for c in proxy.state.completions)
        if not done and action == "CompleteLifecycleAction":
            proxy.state.completions.append({"group": key[0], "hook": key[1], "instance": key[2],
                                            "result": params.get("LifecycleActionResult")})
    if done:
        message = f"No active Lifecycle Action found with instance ID {key[2]}"
        return 400, AUTOSCALING_ERROR.format(code="ValidationError", message=message, request_id=request_id)
    return 200, AUTOSCALING_OK.format(action=action, request_id=request_id)


def show_holds(proxy, payload):
    """Puts each instance a hook still holds in its wait state, as Auto Scaling would show it."""
    with proxy.state.lock:
        done = {(c["group"], c["hook"], c["instance"]) for c in proxy.state.completions}
        waiting = {h["instance"]: WAIT_STATES[h["transition"]] for h in proxy.state.holds
                   if (h["group"], h["hook"], h["instance"]) not in done}
    if not waiting:
        return payload

    def member(m):
        inner = m.group(1)
        found = re.search(r"<InstanceId>([^<]+)</InstanceId>", inner)
        if found and found.group(1) in waiting and "<LifecycleState>" in inner:
            state = waiting[found.group(1)]
            inner = re.sub(r"<LifecycleState>[^<]*</LifecycleState>", f"<LifecycleState>{state}</LifecycleState>", inner)
        return f"<member>{inner}</member>"

    text = INNER_MEMBER.sub(member, payload.decode())
    # moto terminates an instance at once and drops it from its group; AWS keeps it there, in
    # Terminating:Wait (or Pending:Wait), until the hook is completed. Held instances moto no
    # longer lists are put back into their group's Instances.
    with proxy.state.lock:
        held = [(h["group"], h["instance"], WAIT_STATES[h["transition"]]) for h in proxy.state.holds
                if (h["group"], h["hook"], h["instance"]) not in done]
    for group, instance, state in held:
        start = text.find(f"<AutoScalingGroupName>{group}</AutoScalingGroupName>")
        if start < 0:
            continue
        end = text.find("<AutoScalingGroupName>", start + 1)
        section = text[start:] if end < 0 else text[start:end]
        if f"<InstanceId>{instance}</InstanceId>" in section:
            continue
        entry = (f"<member><InstanceId>{instance}</InstanceId><LifecycleState>{state}</LifecycleState>"
                 "<HealthStatus>Healthy</HealthStatus><ProtectedFromScaleIn>false</ProtectedFromScaleIn></member>")
        if "<Instances/>" in section:
            section = section.replace("<Instances/>", f"<Instances>{entry}</Instances>", 1)
        elif "<Instances>" in section:
            section = section.replace("<Instances>", f"<Instances>{entry}", 1)
        else:
            continue
        text = text[:start] + section + ("" if end < 0 else text[end:])
    return text.encode()

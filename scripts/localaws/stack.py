"""A template deployed into the local AWS the way CloudFormation would; scripts/local_stack.py is
its command line and says how (the deploy gate, the resolved set, moto's CloudFormation, then
what moto does not make, through the API). `deploy` returns the description (`describe`).
"""

import functools
import io
import json
import os
import zipfile

import boto3

ACCOUNT = "123456789012"  # moto's

NOT_IN_MOTO = ("AWS::CloudWatch::Alarm", "AWS::Lambda::EventInvokeConfig", "AWS::SNS::Subscription",
               "AWS::SNS::TopicPolicy", "AWS::CloudFormation::WaitConditionHandle")
# Properties moto's CloudFormation accepts and ignores, completed through the API (`complete`).
# (A volume's VolumeType, Encrypted and KmsKeyId are ignored too, and cannot be set afterwards.)
IGNORED_BY_MOTO = {"AWS::AutoScaling::AutoScalingGroup": ["LifecycleHookSpecificationList"],
                   "AWS::EC2::EIP": ["Tags"], "AWS::EC2::Volume": ["Tags"]}
CODE_BUCKET, CODE_KEY = "bucket", "key"  # where iamcheck.template.transform points the function's code


class Refused(Exception):
    """CloudFormation would refuse this deployment; the findings say why."""


def client(service, region):
    return boto3.client(service, endpoint_url=os.environ.get("MOTO_URL") or os.environ["AWS_ENDPOINT_URL"],
                        region_name=region)


def resolved_for(template, given, stack_name, region):
    # The gate's tools load cfn-lint and samtranslator (most of a second): `env` and `delivers`,
    # which run for every event a demo sends, do without them.
    from cfngate import check, parameters, resolve

    transformed = resolve.cloudformation(template)
    findings = check.set_findings(transformed, given, region, stack_name)
    if findings:
        raise Refused(f"CloudFormation would refuse {template} with {given}:\n  " + "\n  ".join(findings))
    values, _ = parameters.values(transformed, given)
    values.update(resolve.pseudo(region, stack_name))
    return resolve.resolved(transformed, values)[0]


def outside_names(resolved, stack_name, region):
    """{logical: {"Ref": ..., attribute: ...}} for the resources created outside moto's stack."""
    account, out = ACCOUNT, {}
    for logical, resource in resolved["Resources"].items():
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::CloudWatch::Alarm":
            name = props.get("AlarmName") or f"{stack_name}-{logical}"
            out[logical] = {"Ref": name, "Arn": f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"}
        elif kind == "AWS::CloudFormation::WaitConditionHandle":
            out[logical] = {"Ref": f"https://cloudformation-waitcondition-{region}.s3.amazonaws.com/{stack_name}/{logical}"}
        elif kind in NOT_IN_MOTO:
            out[logical] = {"Ref": f"{stack_name}-{logical}"}
    return out


def substituted(node, known):
    """node with every Ref / Fn::GetAtt of a resource in `known` replaced by its value, and every
    Fn::Sub naming one computed."""
    if isinstance(node, list):
        return [substituted(n, known) for n in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        (key, arg), = node.items()
        if key == "Ref" and arg in known:
            return known[arg]["Ref"]
        if key == "Fn::GetAtt":
            name, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            if name in known:
                return known[name][attribute]
        if key == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else arg
            for name, values in known.items():
                for attribute, value in values.items():
                    text = text.replace("${" + name + ("" if attribute == "Ref" else "." + attribute) + "}", str(value))
            rest = substituted(variables, known)
            return {"Fn::Sub": [text, rest] if rest else text} if "${" in text.replace("${!", "") else text.replace("${!", "${")
        if key == "Fn::Join":
            separator, items = arg[0], substituted(arg[1], known)
            if isinstance(items, list) and all(not isinstance(i, dict) for i in items):
                return separator.join(str(i) for i in items)
            return {"Fn::Join": [separator, items]}
    return {k: substituted(v, known) for k, v in node.items()}


@functools.lru_cache(maxsize=None)
def attribute(kind, physical, name, region):
    """The value of Fn::GetAtt for a resource moto's stack made (asked once: every Fn::Sub and
    Fn::Join of the resources made outside the stack looks them up)."""
    if kind == "AWS::Lambda::Function" and name == "Arn":
        return client("lambda", region).get_function_configuration(FunctionName=physical)["FunctionArn"]
    if kind == "AWS::SQS::Queue" and name == "Arn":
        return client("sqs", region).get_queue_attributes(QueueUrl=physical, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    if kind == "AWS::IAM::Role" and name == "Arn":
        return client("iam", region).get_role(RoleName=physical)["Role"]["Arn"]
    if kind == "AWS::SQS::Queue" and name == "QueueName":
        return physical.rsplit("/", 1)[-1]
    if kind == "AWS::SQS::Queue" and name == "QueueUrl":
        return physical
    if kind == "AWS::SNS::Topic" and name in ("Arn", "TopicArn"):
        return physical
    raise ValueError(f"local_stack.py cannot read {kind}.{name}")


def create_outside(logical, kind, props, region, name):
    if kind == "AWS::CloudWatch::Alarm":
        props = dict(props, AlarmName=props.get("AlarmName", name))
        keep = ("AlarmName", "AlarmDescription", "ActionsEnabled", "OKActions", "AlarmActions",
                "InsufficientDataActions", "MetricName", "Namespace", "Statistic", "ExtendedStatistic", "Dimensions",
                "Period", "Unit", "EvaluationPeriods", "DatapointsToAlarm", "Threshold", "ComparisonOperator",
                "TreatMissingData", "EvaluateLowSampleCountPercentile", "Metrics", "ThresholdMetricId")
        request = {k: v for k, v in props.items() if k in keep}
        for number in ("Period", "EvaluationPeriods", "DatapointsToAlarm"):
            if number in request:
                request[number] = int(request[number])
        if "Threshold" in request:
            request["Threshold"] = float(request["Threshold"])
        if "ActionsEnabled" in request:
            request["ActionsEnabled"] = str(request["ActionsEnabled"]).lower() == "true"
        for query in request.get("Metrics", []):
            if "MetricStat" in query:
                query["MetricStat"]["Period"] = int(query["MetricStat"]["Period"])
            if "ReturnData" in query:
                query["ReturnData"] = str(query["ReturnData"]).lower() == "true"
        client("cloudwatch", region).put_metric_alarm(**request)
    elif kind == "AWS::Lambda::EventInvokeConfig":
        request = {"FunctionName": props["FunctionName"], "Qualifier": props.get("Qualifier", "$LATEST")}
        for k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
            if k in props:
                request[k] = int(props[k])
        if "DestinationConfig" in props:
            request["DestinationConfig"] = props["DestinationConfig"]
        client("lambda", region).put_function_event_invoke_config(**request)
    elif kind == "AWS::SNS::Subscription":
        topic_region = props["TopicArn"].split(":")[3]
        client("sns", topic_region).subscribe(TopicArn=props["TopicArn"], Protocol=props["Protocol"],
                                              Endpoint=props["Endpoint"])
    elif kind == "AWS::SNS::TopicPolicy":
        for topic in props["Topics"]:
            client("sns", region).set_topic_attributes(TopicArn=topic, AttributeName="Policy",
                                                      AttributeValue=json.dumps(props["PolicyDocument"]))


def complete(kind, physical, props, region):
    """What moto's CloudFormation leaves out of a resource it creates (IGNORED_BY_MOTO), done through
    the API: an Auto Scaling group's LifecycleHookSpecificationList, an address's or a volume's Tags."""
    if kind in ("AWS::EC2::EIP", "AWS::EC2::Volume") and props.get("Tags"):
        ec2 = client("ec2", region)
        resource = physical
        if kind == "AWS::EC2::EIP":  # moto names an address by its public IP, as Ref does
            resource = ec2.describe_addresses(PublicIps=[physical])["Addresses"][0]["AllocationId"]
        ec2.create_tags(Resources=[resource], Tags=[{"Key": t["Key"], "Value": str(t["Value"])} for t in props["Tags"]])
    if kind == "AWS::AutoScaling::AutoScalingGroup":
        for hook in props.get("LifecycleHookSpecificationList", []):
            request = {k: v for k, v in hook.items() if k in ("LifecycleHookName", "LifecycleTransition", "DefaultResult",
                                                                "NotificationMetadata", "NotificationTargetARN", "RoleARN")}
            if "HeartbeatTimeout" in hook:
                request["HeartbeatTimeout"] = int(hook["HeartbeatTimeout"])
            client("autoscaling", region).put_lifecycle_hook(AutoScalingGroupName=physical, **request)


def deploy(template, given, stack_name, region="us-east-1"):
    """Deploys and returns the description (see `describe`)."""
    resolved = resolved_for(template, given, stack_name, region)
    known = outside_names(resolved, stack_name, region)
    inside, outside = {}, {}
    for logical, resource in resolved["Resources"].items():
        if logical in known:
            outside[logical] = resource
            continue
        resource = substituted(resource, known)
        depends = resource.get("DependsOn")
        if depends is not None:
            depends = [d for d in ([depends] if isinstance(depends, str) else depends) if d not in known]
            resource = {k: v for k, v in resource.items() if k != "DependsOn"}
            if depends:
                resource["DependsOn"] = depends
        inside[logical] = resource
    remove(stack_name, region)
    s3 = client("s3", region)
    if region == "us-east-1":
        s3.create_bucket(Bucket=CODE_BUCKET)
    else:
        s3.create_bucket(Bucket=CODE_BUCKET, CreateBucketConfiguration={"LocationConstraint": region})
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\n")  # the local runner runs the real bootstrap, not this
    s3.put_object(Bucket=CODE_BUCKET, Key=CODE_KEY, Body=code.getvalue())
    body = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": inside}
    cloudformation = client("cloudformation", region)
    cloudformation.create_stack(StackName=stack_name, TemplateBody=json.dumps(body), Capabilities=["CAPABILITY_IAM"])
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise Refused(f"stack {stack_name}: {stack['StackStatus']} {stack.get('StackStatusReason', '')}")
    # moto gives a Lambda permission no physical id (CloudFormation gives it the statement id).
    made = {r["LogicalResourceId"]: (r["ResourceType"], r.get("PhysicalResourceId") or r["LogicalResourceId"])
            for r in cloudformation.describe_stack_resources(StackName=stack_name)["StackResources"]}
    missing = sorted(set(inside) - set(made))
    if missing:
        raise Refused(f"stack {stack_name}: moto made no {missing}")
    values = dict(known)
    for logical, (kind, physical) in made.items():
        values[logical] = {"Ref": physical}
    for logical, resource in outside.items():
        props = resolve_with_stack(resource.get("Properties", {}), values, made, region)
        create_outside(logical, resource["Type"], props, region, known[logical]["Ref"])
    for logical, resource in inside.items():
        ignored = {k: v for k, v in resource.get("Properties", {}).items() if k in IGNORED_BY_MOTO.get(resource["Type"], ())}
        if ignored:
            complete(resource["Type"], made[logical][1], resolve_with_stack(ignored, values, made, region), region)
    return describe(stack_name, made, known, outside, region)


def remove(stack_name, region):
    """Deletes a stack of that name and the alarms made beside it (a deployment replaced by one with
    other parameters, as `sam deploy` would update it)."""
    cloudformation = client("cloudformation", region)
    stacks = [s for s in cloudformation.list_stacks()["StackSummaries"]
              if s["StackName"] == stack_name and s["StackStatus"] != "DELETE_COMPLETE"]
    if not stacks:
        return
    cloudformation.delete_stack(StackName=stack_name)
    cloudwatch = client("cloudwatch", region)
    ours = [a["AlarmName"] for a in cloudwatch.describe_alarms(AlarmNamePrefix=f"{stack_name}-")["MetricAlarms"]]
    if ours:
        cloudwatch.delete_alarms(AlarmNames=ours)


def resolve_with_stack(node, values, made, region):
    """node with the stack's physical ids and attributes in place of Ref / Fn::GetAtt."""
    if isinstance(node, list):
        return [resolve_with_stack(n, values, made, region) for n in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        (key, arg), = node.items()
        if key == "Ref" and arg in values:
            return values[arg]["Ref"]
        if key == "Fn::GetAtt":
            name, att = arg if isinstance(arg, list) else arg.split(".", 1)
            if name in made:
                return attribute(made[name][0], made[name][1], att, region)
            return values[name][att]
        if key in ("Fn::Sub", "Fn::Join"):
            expanded = {n: {"Ref": v["Ref"]} for n, v in values.items()}
            for n, (kind, physical) in made.items():
                if kind in ("AWS::Lambda::Function", "AWS::SQS::Queue", "AWS::IAM::Role", "AWS::SNS::Topic"):
                    expanded[n]["Arn"] = attribute(kind, physical, "Arn", region)
            return resolve_with_stack(substituted(node, expanded), values, made, region)
    return {k: resolve_with_stack(v, values, made, region) for k, v in node.items()}


def role_policies(role, region):
    """The role's inline policies as IAM holds them: [{"PolicyName", "PolicyDocument"}] (moto keeps
    a document given through CloudFormation as the text of a Python dict)."""
    import ast

    iam = client("iam", region)
    out = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        if isinstance(document, str):
            try:
                document = json.loads(document)
            except ValueError:
                document = ast.literal_eval(document)
        out.append({"PolicyName": name, "PolicyDocument": document})
    return out


def describe(stack_name, made, known, outside, region):
    """What the demos need of the stack: the function, its environment and role, the rules that
    target it and the alarms that invoke it."""
    functions = [p for k, p in made.values() if k == "AWS::Lambda::Function"]
    lam, events, cloudwatch = client("lambda", region), client("events", region), client("cloudwatch", region)
    function = lam.get_function_configuration(FunctionName=functions[0])
    arn = function["FunctionArn"]
    rules = []
    for kind, physical in made.values():
        if kind != "AWS::Events::Rule":
            continue
        name = physical.split("/")[-1]
        rule = events.describe_rule(Name=name)
        targets = events.list_targets_by_rule(Rule=name)["Targets"]
        if any(t["Arn"] == arn for t in targets):
            rules.append({"name": name, "pattern": rule.get("EventPattern"), "schedule": rule.get("ScheduleExpression"),
                          "state": rule.get("State")})
    logical = {known[n]["Ref"]: n for n, r in outside.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    names = sorted(logical)
    alarms = [{"logical": logical[a["AlarmName"]], "name": a["AlarmName"], "arn": a["AlarmArn"],
               "invokes": arn in a.get("AlarmActions", []),
               "invokes_on_insufficient_data": arn in a.get("InsufficientDataActions", []),
               "dimensions": a.get("Dimensions", []), "metric": a.get("MetricName")}
              for a in cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]] if names else []
    return {"stack": stack_name, "region": region, "function": {"name": function["FunctionName"], "arn": arn,
            "role": function["Role"], "environment": function.get("Environment", {}).get("Variables", {}),
            "policies": role_policies(function["Role"].rsplit("/", 1)[-1], region)},
            "rules": rules, "alarms": alarms, "resources": {k: list(v) for k, v in made.items()},
            "outside": {k: r["Type"] for k, r in outside.items()}}

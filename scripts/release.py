"""The release templates: each SAM template (template.yaml, template-group.yaml) as a plain
CloudFormation template, without a Transform, for CloudFormation StackSets. `make release-templates`
writes them to dist/ (`make release` builds the function's zip beside them).

Why. StackSets with service-managed permissions run each stack with a default execution role in
every target account, and "You can't provision nested stacks, transforms, or macros with the
default execution role" (CloudFormation User Guide, "Configure a custom execution role template for
StackSets", https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-custom-execution-role.html;
the same page says a custom execution role template, service-managed only, can provision them, at
the cost of one more stack per target account). AWS::Serverless-2016-10-31 is such a transform,
hosted by CloudFormation ("a macro hosted by CloudFormation", User Guide, "AWS::Serverless
transform", https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/transform-aws-serverless.html).
So the transform runs here, offline, with the library `sam validate` itself uses (samtranslator,
installed by aws-sam-cli; samcli/lib/translate/sam_template_validator.py calls
samtranslator.translator.translator.Translator.translate the same way), and the stacks get its output.

The function's code: `CodeUri: .` (a local folder that `sam build` fills) becomes two parameters,
CodeBucketPrefix and CodeKey, and each stack reads the zip from s3://<CodeBucketPrefix>-<its
region>/<CodeKey>. Lambda takes code from "an Amazon S3 bucket in the same AWS Region as your
function. The bucket can be in a different AWS account" (Lambda API reference, FunctionCode,
S3Bucket; the SAM FunctionCode property says the same), hence one bucket per region; the template
names it with ${AWS::Region} itself, so that one stack set parameter serves every region (a full
bucket name would need a parameter override per region, auto-deployed accounts included). The
buckets, their policy and the upload: docs/fleet-deployment.md.

What the translator does with each construct of the two templates (tests/test_release.py checks):
- Transform: removed. No `AWS::LanguageExtensions` in either template (no Fn::ForEach, Fn::Length,
  Fn::ToJsonString); that is a transform too, and StackSets' default execution role refuses it just
  the same. A template that declares it is refused here: its Fn::ForEach over a parameter cannot be
  expanded without the parameter's value, which differs per stack instance.
- Globals: none in either template (the translator would fold them into each function).
- AWS::Serverless::Function: an AWS::Lambda::Function of the same logical id (Code from the two
  parameters, as CODE_URI), an AWS::Lambda::EventInvokeConfig (<Function>EventInvokeConfig) for
  EventInvokeConfig, and each entry of Events (EventBridgeRule, Schedule) an AWS::Events::Rule
  (<Function><Event>) with its AWS::Lambda::Permission (<Function><Event>Permission).
  template.yaml's function names its own Role (FailoverFunctionRole, written out in the template),
  so no role is made for it; template-group.yaml's has Policies, so the translator makes
  FollowFunctionRole (its inline statements, the Fn::If'd one kept as an Fn::If, the on-failure
  queue's sqs:SendMessage, and the AWS managed policy AWSLambdaBasicExecutionRole by ARN).
- Every other resource (the alarms, their permissions, the role, the log group, the queue, the
  group, the EIP, the volume with its DeletionPolicy...), Parameters, Mappings, Conditions, Rules
  (Fn::EachMemberEquals included: a rule function CloudFormation evaluates itself), Outputs and
  the template's Metadata (cfn-lint's settings, the console's parameter groups): passed through
  unchanged; the release adds the code parameters and their group. The function's own Metadata
  (SAM's build method) is copied by the translator onto the Lambda function and its
  EventInvokeConfig, where CloudFormation ignores it. Parameter defaults are read but not put in
  (the tests check that every parameter the SAM template references is still referenced).

Managed policies: translate() needs a way to turn a managed policy *name* in a function's Policies
into an ARN; `sam validate` asks IAM (ListPolicies), which needs credentials. Neither template
names one: template.yaml's role gives AWSLambdaBasicExecutionRole by ARN itself, and the translator
adds it to template-group.yaml's role by ARN, without the map. So the map given here is empty
(OFFLINE_MANAGED_POLICIES), samtranslator's bundled map (consulted first) covers the usual names,
and a name neither knows stops the release rather than reaching CloudFormation as a bare name.
The translator writes that ARN with the partition of the region it runs in (arn:aws:...); the
release writes it with ${AWS::Partition}, as template.yaml does, so that one template serves every
partition.

The output is compact JSON: StackSets take a TemplateBody of at most 51,200 bytes, or a
TemplateURL to a template of up to 1 MB in S3 (CloudFormation API reference, CreateStackSet).

    .venv/bin/python scripts/release.py [--out dist] [template.yaml ...]
"""

import argparse
import copy
import json
import logging
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
# SAM template -> the release template's file name in dist/.
TEMPLATES = {
    "template.yaml": "template.json",
    "template-group.yaml": "template-group.json",
    "template-fleet.yaml": "template-fleet.json",
}
# The region the translator believes it runs in: it decides nothing but the partition of the ARNs
# it writes itself, which release() replaces with ${AWS::Partition}.
REGION = "us-east-1"
# Managed policy names a function's Policies may give, beyond samtranslator's bundled map: none.
OFFLINE_MANAGED_POLICIES = {}
TEMPLATE_BODY_LIMIT = 51_200
TEMPLATE_URL_LIMIT = 1_000_000

# The two parameters that stand for `CodeUri`, first in the template's parameter list of the
# console (AWS::CloudFormation::Interface) under their own label.
CODE_PARAMETERS = {
    "CodeBucketPrefix": {
        "Type": "String",
        "Description": (
            "The function's zip (dist/bootstrap-arm64.zip of make release) is read from the S3 bucket "
            "<CodeBucketPrefix>-<this stack's region>: Lambda reads code only from a bucket in the "
            "function's region, so there is one such bucket per region (docs/fleet-deployment.md)."),
        # S3 bucket names are 3 to 63 lowercase letters, digits, dots and hyphens; the longest region
        # name and its hyphen take 15 of them.
        "AllowedPattern": r"^[a-z0-9][a-z0-9.-]{1,46}[a-z0-9]$",
        "ConstraintDescription": "the start of an S3 bucket name, at most 48 characters, such as acme-ec2-failover",
    },
    "CodeKey": {
        "Type": "String",
        "Description": (
            "The key of the zip in each region's bucket. A new key for each release (e.g. one with the "
            "commit in it): CloudFormation updates the function's code only when the key changes. The "
            "zip is built for arm64: leave Architecture at arm64."),
        "MinLength": 1,
        "MaxLength": 1024,
    },
}
# Where each stack reads the code: the bucket of its own region.
CODE_URI = {"Bucket": {"Fn::Sub": "${CodeBucketPrefix}-${AWS::Region}"}, "Key": {"Ref": "CodeKey"}}
CODE_LABEL = "Function code (make release)"
PARTITION_ARN = re.compile(r"^arn:aws:iam::aws:policy/(.+)$")


class ReleaseError(Exception):
    """A template the release cannot turn into a transform-free one."""


def load(path):
    """A template file as a dict, CloudFormation's short tags as their long forms."""
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse(pathlib.Path(path).read_text())


def transforms(template):
    value = template.get("Transform", [])
    return [value] if isinstance(value, str) else list(value)


def unknown_managed_policy():
    raise ReleaseError(
        "a function's Policies names a managed policy that neither samtranslator's bundled map nor "
        "OFFLINE_MANAGED_POLICIES (scripts/release.py) knows: add its ARN there, or give the ARN in the template")


def translate(template):
    """The SAM template (a dict) through samtranslator, offline, its functions' CodeUri the two code
    parameters: the CloudFormation template the AWS::Serverless transform would make of it."""
    import boto3
    from samtranslator.public.exceptions import InvalidDocumentException
    from samtranslator.public.parser import Parser
    from samtranslator.public.translator import Translator

    template = copy.deepcopy(template)
    given = transforms(template)
    if "AWS::LanguageExtensions" in given:
        raise ReleaseError(
            "the template uses the AWS::LanguageExtensions transform, which StackSets' default execution "
            "role refuses like AWS::Serverless; its Fn::ForEach over a parameter cannot be expanded without "
            "the parameter's value: write the template without it")
    if not given or any(not t.startswith("AWS::Serverless-") for t in given):
        raise ReleaseError(f"expected the one transform AWS::Serverless-2016-10-31, found {given or 'none'}")
    functions = [r for r in template.get("Resources", {}).values() if r.get("Type") == "AWS::Serverless::Function"]
    if not functions:
        raise ReleaseError("the template has no AWS::Serverless::Function")
    for name in CODE_PARAMETERS:
        if name in template.get("Parameters", {}):
            raise ReleaseError(f"the template already has a parameter {name}")
    if "CodeUri" in template.get("Globals", {}).get("Function", {}):
        raise ReleaseError("Globals.Function.CodeUri: give each function its CodeUri instead")
    template.setdefault("Parameters", {}).update(copy.deepcopy(CODE_PARAMETERS))
    for function in functions:
        properties = function.setdefault("Properties", {})
        if properties.get("PackageType", "Zip") != "Zip":
            raise ReleaseError("only zip functions are released (an image function has no CodeUri)")
        properties["CodeUri"] = copy.deepcopy(CODE_URI)
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    translator = Translator(OFFLINE_MANAGED_POLICIES, Parser(), boto_session=boto3.session.Session(region_name=REGION))
    try:
        return translator.translate(template, parameter_values={}, get_managed_policy_map=unknown_managed_policy)
    except InvalidDocumentException as e:
        raise ReleaseError("; ".join([str(e)] + [str(c) for c in e.causes])) from e


def with_partition(value):
    """An AWS managed policy ARN the translator wrote for one partition, for the stack's own."""
    if isinstance(value, str) and PARTITION_ARN.match(value):
        return {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/" + PARTITION_ARN.match(value).group(1)}
    return value


def release(template):
    """The release template of a SAM template (a dict, or a path)."""
    if not isinstance(template, dict):
        template = load(template)
    out = translate(template)
    out.pop("Transform", None)
    left = sorted(name for name, r in out.get("Resources", {}).items() if r.get("Type", "").startswith("AWS::Serverless::"))
    if left:
        raise ReleaseError(f"the translator left serverless resources: {left}")
    for resource in out["Resources"].values():
        if resource.get("Type") == "AWS::IAM::Role":
            properties = resource.get("Properties", {})
            if "ManagedPolicyArns" in properties:
                properties["ManagedPolicyArns"] = [with_partition(a) for a in properties["ManagedPolicyArns"]]
    interface = out.get("Metadata", {}).get("AWS::CloudFormation::Interface")
    if interface is not None:
        interface.setdefault("ParameterGroups", []).insert(
            0, {"Label": {"default": CODE_LABEL}, "Parameters": list(CODE_PARAMETERS)})
    return out


def dumps(template):
    """Compact JSON (see TEMPLATE_BODY_LIMIT), one line and a newline."""
    return json.dumps(template, separators=(",", ":"), ensure_ascii=False) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "dist"), help="where the templates go (default: dist/)")
    parser.add_argument("templates", nargs="*", default=list(TEMPLATES), help="SAM templates (default: both)")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.templates:
        source = pathlib.Path(name)
        source = source if source.is_absolute() or source.exists() else ROOT / name
        target = out / TEMPLATES.get(source.name, source.stem + ".json")
        try:
            text = dumps(release(source))
        except ReleaseError as e:
            print(f"release: {source.name}: {e}", file=sys.stderr)
            return 1
        target.write_text(text)
        size = len(text.encode())
        if size > TEMPLATE_URL_LIMIT:
            print(f"release: {target} is {size} bytes, over the 1 MB of a TemplateURL", file=sys.stderr)
            return 1
        how = "--template-body or --template-url" if size <= TEMPLATE_BODY_LIMIT else "--template-url only"
        print(f"{target}: {size} bytes ({how}), from {source.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

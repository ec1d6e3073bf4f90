"""Which intrinsic functions each part of a template accepts, from CloudFormation's documentation,
checked on the template as written and as samtranslator transforms it.

Sources (CloudFormation User Guide and Template Reference):
- "Intrinsic function reference": functions are accepted in resource properties, outputs, metadata
  attributes and update policy attributes, and to create resources conditionally; nowhere else.
- "Rule functions", Supported functions: Ref and the rule functions in a rule; nothing inside
  Fn::ValueOf / Fn::ValueOfAll (scripts/cfnlint_rules/RuleFunctions.py, shared with cfn-lint).
- "Condition functions": in Conditions, Fn::And, Fn::Equals, Fn::Not, Fn::Or and Condition, with
  Ref (to parameters; "you can't reference resources"), Fn::FindInMap and other condition
  functions inside them. Fn::Join, Fn::Select, Fn::Split and Fn::Sub inside Fn::Equals are accepted
  by CloudFormation in practice (the usual way to test an empty list; reported working in
  cfn-lint's issues 881 and 4104) and stay allowed.
- "Condition attribute", "DependsOn attribute": a resource's Condition names a condition (a
  string), its DependsOn names resources (a string or a list of strings): no functions.
- "Outputs": an output's Condition is a condition's name; an Export Name cannot depend on a
  resource (no Ref or Fn::GetAtt of one).
- "Parameters", "Mappings": literal values only.
- "Template anatomy" and "CloudFormation quotas": Description at most 1,024 bytes; at most 200
  parameters, 500 resources, 200 outputs, 200 mappings; logical ids alphanumeric, at most 255.
"""

import re

from cfnlint_rules.RuleFunctions import findings as rule_findings
from cfnlint_rules.RuleFunctions import function_of

PROPERTY_FUNCTIONS = frozenset([
    "Ref", "Fn::Base64", "Fn::Cidr", "Fn::FindInMap", "Fn::GetAtt", "Fn::GetAZs", "Fn::If", "Fn::ImportValue",
    "Fn::Join", "Fn::Select", "Fn::Split", "Fn::Sub", "Fn::Transform",
])
CONDITION_FUNCTIONS = frozenset(["Fn::And", "Fn::Equals", "Fn::Not", "Fn::Or", "Condition"])
INSIDE_CONDITIONS = CONDITION_FUNCTIONS | {"Ref", "Fn::FindInMap", "Fn::Join", "Fn::Select", "Fn::Split", "Fn::Sub"}
# Intrinsic functions with a documented YAML short form (each function's page, "Syntax for the
# short form"); the rule functions that are not condition functions have none.
SHORT_FORMS = frozenset([
    "Ref", "Condition", "Base64", "Cidr", "FindInMap", "GetAtt", "GetAZs", "ImportValue", "Join", "Select", "Split",
    "Sub", "Transform", "And", "Equals", "If", "Not", "Or",
])
PSEUDO = frozenset(["AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition", "AWS::Region",
                    "AWS::StackId", "AWS::StackName", "AWS::URLSuffix"])
LIMITS = {"Parameters": 200, "Resources": 500, "Outputs": 200, "Mappings": 200}
LOGICAL_ID = re.compile(r"^[A-Za-z0-9]{1,255}$")


def functions_in(node, path):
    """(path, function, argument) of every function call under node, outermost first."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from functions_in(item, path + [i])
    elif isinstance(node, dict):
        function = function_of(node)
        if function:
            yield path, function, node[function]
            yield from functions_in(node[function], path + [function])
        else:
            for key, value in node.items():
                yield from functions_in(value, path + [key])


def where(path):
    return "/".join(str(p) for p in path)


def only(node, path, allowed, why):
    for at, function, _ in functions_in(node, path):
        if function not in allowed:
            yield f"{where(at)}: {function} is not accepted here ({why})"


def check(template):
    """Findings (strings naming the place) about where the template's functions stand."""
    out = [f"{where(path)}: {message}" for path, message in rule_findings(template)]
    resources = template.get("Resources", {})
    conditions = template.get("Conditions", {})
    parameters = template.get("Parameters", {})
    description = template.get("Description", "")
    if not isinstance(description, str):
        out.append("Description: a literal string, no functions")
    elif len(description.encode()) > 1024:
        out.append(f"Description: {len(description.encode())} bytes, CloudFormation's limit is 1024")
    for section, limit in LIMITS.items():
        if len(template.get(section, {})) > limit:
            out.append(f"{section}: {len(template[section])} entries, CloudFormation's limit is {limit}")
        for name in template.get(section, {}):
            if not LOGICAL_ID.match(str(name)):
                out.append(f"{section}/{name}: a logical id is alphanumeric, at most 255 characters")
    for section in ("Parameters", "Mappings"):
        for at, function, _ in functions_in(template.get(section, {}), [section]):
            out.append(f"{where(at)}: {function} in {section}, which takes literal values only")
    for at, function, _ in functions_in(template.get("Metadata", {}), ["Metadata"]):
        out.append(f"{where(at)}: {function} in the template's Metadata, which CloudFormation never evaluates")
    for name, body in conditions.items():
        outer = function_of(body)
        if outer not in CONDITION_FUNCTIONS:
            out.append(f"Conditions/{name}: a condition is Fn::And, Fn::Equals, Fn::Not, Fn::Or or Condition, not {outer}")
        out += only(body, ["Conditions", name], INSIDE_CONDITIONS, "Conditions accept the condition functions, Ref, "
                    "Fn::FindInMap, and Fn::Join, Fn::Select, Fn::Split, Fn::Sub inside Fn::Equals")
        for at, function, argument in functions_in(body, ["Conditions", name]):
            if function == "Ref" and argument not in parameters and argument not in PSEUDO:
                out.append(f"{where(at)}: Ref {argument} in a condition: conditions reference parameters only")
            if function == "Condition" and argument not in conditions:
                out.append(f"{where(at)}: no condition {argument}")
    for name, resource in resources.items():
        base = ["Resources", name]
        for attribute in ("Type", "Condition", "DependsOn", "DeletionPolicy", "UpdateReplacePolicy"):
            if attribute in resource:
                for at, function, _ in functions_in(resource[attribute], base + [attribute]):
                    out.append(f"{where(at)}: {function} in {attribute}, which takes literal names only")
        if isinstance(resource.get("Condition"), str) and resource["Condition"] not in conditions:
            out.append(f"{where(base)}/Condition: no condition {resource['Condition']}")
        depends = resource.get("DependsOn", [])
        for target in [depends] if isinstance(depends, str) else depends if isinstance(depends, list) else []:
            if isinstance(target, str) and target not in resources:
                out.append(f"{where(base)}/DependsOn: no resource {target}")
        for attribute in ("Properties", "Metadata", "UpdatePolicy", "CreationPolicy"):
            if attribute in resource:
                out += only(resource[attribute], base + [attribute], PROPERTY_FUNCTIONS,
                            f"a resource's {attribute} accepts the property functions, not rule or condition functions")
        out += if_conditions(resource, base, conditions)
    for name, output in template.get("Outputs", {}).items():
        base = ["Outputs", name]
        if "Condition" in output:
            if not isinstance(output["Condition"], str):
                out.append(f"{where(base)}/Condition: a condition's name, no functions")
            elif output["Condition"] not in conditions:
                out.append(f"{where(base)}/Condition: no condition {output['Condition']}")
        out += only(output.get("Value"), base + ["Value"], PROPERTY_FUNCTIONS, "an output's Value accepts the property functions")
        export = output.get("Export", {}).get("Name") if isinstance(output.get("Export"), dict) else None
        for at, function, argument in functions_in(export, base + ["Export", "Name"]):
            named = argument if function == "Ref" else argument[0] if function == "Fn::GetAtt" and isinstance(argument, list) \
                else str(argument).split(".")[0] if function == "Fn::GetAtt" else None
            if named in resources:
                out.append(f"{where(at)}: an Export Name cannot depend on the resource {named}")
        out += if_conditions(output, base, conditions)
    return out


def if_conditions(node, path, conditions):
    """Every Fn::If names a condition of the template and has a condition, a then and an else."""
    for at, function, argument in functions_in(node, path):
        if function != "Fn::If":
            continue
        if not (isinstance(argument, list) and len(argument) == 3 and isinstance(argument[0], str)):
            yield f"{where(at)}: Fn::If takes [condition name, value if true, value if false]"
        elif argument[0] not in conditions:
            yield f"{where(at)}: Fn::If names no condition of the template: {argument[0]}"


TAG = re.compile(r"(?<![\w'\"])!([A-Za-z]+)\b")


def short_forms(text):
    """Findings for YAML tags that are not documented short forms (line numbers 1-based)."""
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        code = line.split(" #", 1)[0] if not line.lstrip().startswith("#") else ""
        for tag in TAG.findall(code):
            if tag not in SHORT_FORMS:
                out.append(f"line {number}: !{tag} is not a documented YAML short form (write Fn::{tag} in full)")
    return out

"""A parameter set's values as CloudFormation types them, and the constraints each value must meet
(User Guide, "Parameters": AllowedPattern applies to each value of a CommaDelimitedList or List<>,
and must match the whole value; Number takes an integer or a float; MinValue/MaxValue for numbers,
MinLength/MaxLength for strings). A default is checked like a value: CloudFormation refuses a
default that breaks its own constraints when it creates the change set."""

import re

from iamcheck.template import typed

# AWS-specific types whose values have a documented id form (what is checked without an account).
ID_PATTERNS = {
    "AWS::EC2::VPC::Id": r"vpc-[0-9a-f]+",
    "AWS::EC2::Subnet::Id": r"subnet-[0-9a-f]+",
    "AWS::EC2::SecurityGroup::Id": r"sg-[0-9a-f]+",
    "AWS::EC2::Instance::Id": r"i-[0-9a-f]+",
}


def member_type(spec):
    kind = spec.get("Type", "String")
    return kind[5:-1] if kind.startswith("List<") else kind


def text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def problems(name, spec, value):
    """Why `value` is not a valid value of the parameter, as a list of findings (empty if it is)."""
    out = []
    members = typed(spec, value)
    members = members if isinstance(members, list) else [members]
    kind = member_type(spec)
    allowed = [text(v) for v in spec.get("AllowedValues", [])]
    for member in members:
        shown = f"{name}={member!r}"
        if kind == "Number":
            try:
                number = float(member)
            except ValueError:
                out.append(f"{shown}: not a number")
                continue
            if "MinValue" in spec and number < float(spec["MinValue"]):
                out.append(f"{shown}: below MinValue {spec['MinValue']}")
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                out.append(f"{shown}: above MaxValue {spec['MaxValue']}")
            if allowed and not any(float(a) == number for a in allowed):
                out.append(f"{shown}: not in AllowedValues {allowed}")
            continue
        if kind in ID_PATTERNS and not re.fullmatch(ID_PATTERNS[kind], member):
            out.append(f"{shown}: not a {kind}")
        if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], member):
            out.append(f"{shown}: does not match AllowedPattern {spec['AllowedPattern']}")
        if allowed and member not in allowed:
            out.append(f"{shown}: not in AllowedValues {allowed}")
        if "MinLength" in spec and len(member) < int(spec["MinLength"]):
            out.append(f"{shown}: shorter than MinLength {spec['MinLength']}")
        if "MaxLength" in spec and len(member) > int(spec["MaxLength"]):
            out.append(f"{shown}: longer than MaxLength {spec['MaxLength']}")
    if len(",".join(members).encode()) > 4096:
        out.append(f"{name}: a parameter value is at most 4,096 bytes")
    return out


def defaults(template):
    """Findings for every default that breaks its own parameter's constraints."""
    return [f"Parameters/{name}/Default: {p}" for name, spec in template.get("Parameters", {}).items()
            if "Default" in spec for p in problems(name, spec, spec["Default"])]


def values(template, given):
    """(values, findings): every parameter's typed value for a set (given, else the default) and
    what is wrong with them (unknown names, missing values, broken constraints)."""
    declared = template.get("Parameters", {})
    out = [f"{name}: not a parameter of the template" for name in sorted(set(given) - set(declared))]
    result = {}
    for name, spec in declared.items():
        if name in given:
            value = given[name]
        elif "Default" in spec:
            value = spec["Default"]
        else:
            out.append(f"{name}: no value and no default")
            continue
        out += problems(name, spec, value)
        result[name] = typed(spec, value)
    return result, out

"""In a resolved template, every reference names a resource that exists for that parameter set: a
Ref, Fn::GetAtt or Fn::Sub variable in a resource or output, and every DependsOn. A resource that
refers to one whose condition is false fails the deployment (User Guide, "Conditions": "a resource
that is conditionally created ... you can't reference it from a resource that is created
regardless"); so does a DependsOn on it."""

import re

from .resolve import PSEUDO_NAMES
from .sections import functions_in, where

SUB_NAME = re.compile(r"\$\{([^!}][^}]*)\}")


def names(node, path):
    """(path, how, name) of every resource a node refers to."""
    for at, function, argument in functions_in(node, path):
        if function == "Ref" and isinstance(argument, str):
            yield at, "Ref", argument
        elif function == "Fn::GetAtt":
            name = argument[0] if isinstance(argument, list) else str(argument).split(".", 1)[0]
            yield at, "Fn::GetAtt", name
        elif function == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
            for name in SUB_NAME.findall(text if isinstance(text, str) else ""):
                if name not in variables:
                    yield at, "Fn::Sub", name.split(".", 1)[0]


def dangling(resolved, transformed, conditions):
    """Findings for references to resources that do not exist in the resolved template: why (the
    false condition that left the target out, or that there is no such resource at all)."""
    present = resolved.get("Resources", {})
    everything = transformed.get("Resources", {})
    out = []

    def why(name):
        if name in everything and "Condition" in everything[name]:
            condition = everything[name]["Condition"]
            return f"{name}, whose condition {condition} is {conditions.get(condition)} for this set"
        return f"{name}, which the template does not declare"

    for section in ("Resources", "Outputs"):
        for logical, body in resolved.get(section, {}).items():
            for at, how, name in names(body, [section, logical]):
                if name not in present and name not in PSEUDO_NAMES:
                    out.append(f"{where(at)}: {how} refers to {why(name)}")
            depends = body.get("DependsOn", []) if section == "Resources" else []
            for target in [depends] if isinstance(depends, str) else depends:
                if target not in present:
                    out.append(f"{section}/{logical}/DependsOn: {why(target)}")
    return out

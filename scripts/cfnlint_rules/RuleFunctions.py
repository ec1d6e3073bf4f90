"""E9101: a rule's condition and assertions use Ref and the rule functions only.

CloudFormation refuses, when it creates the change set, a template whose Rules section holds any
other function ("Template format error: Following functions are not supported in the Rules block
of the template"), Fn::Join and Fn::If included; cfn-lint 1.x checks only the outermost function
of a rule, so `Fn::Equals [Fn::Join [...], ""]` passes it. The documented list (Template Reference,
"Rule functions", Supported functions): Ref and the rule-specific functions anywhere in a rule,
and nothing at all inside Fn::ValueOf and Fn::ValueOfAll.

Loaded with `cfn-lint --append-rules scripts/cfnlint_rules` (the repository's .cfnlintrc does it),
so the cfn-lint a user runs in this repository catches it too.
"""

from cfnlint.rules import CloudFormationLintRule, RuleMatch

RULE_FUNCTIONS = frozenset([
    "Fn::And", "Fn::Contains", "Fn::EachMemberEquals", "Fn::EachMemberIn", "Fn::Equals", "Fn::Not", "Fn::Or",
    "Fn::RefAll", "Fn::ValueOf", "Fn::ValueOfAll",
])
ALLOWED = RULE_FUNCTIONS | {"Ref"}
# Their arguments are a parameter and an attribute, or a type and an attribute: plain strings.
NO_FUNCTIONS_INSIDE = frozenset(["Fn::ValueOf", "Fn::ValueOfAll"])


def function_of(node):
    """The intrinsic function a node calls ("Fn::X", "Ref" or "Condition"), or None."""
    if isinstance(node, dict) and len(node) == 1:
        (key,) = node
        if isinstance(key, str) and (key.startswith("Fn::") or key in ("Ref", "Condition")):
            return key
    return None


def misplaced(node, path, inside=None):
    """(path, function, why) for every function under `node` that a rule may not hold."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from misplaced(item, path + [i], inside)
        return
    if not isinstance(node, dict):
        return
    function = function_of(node)
    if function is not None:
        if inside in NO_FUNCTIONS_INSIDE:
            yield path + [function], function, f"no function may stand inside {inside}"
        elif function not in ALLOWED:
            yield path + [function], function, "a rule accepts Ref and the rule functions only"
        yield from misplaced(node[function], path + [function], function)
        return
    for key, value in node.items():
        yield from misplaced(value, path + [key], inside)


def rule_expressions(template):
    """(path, rule name, expression) of every RuleCondition and Assert in the template."""
    rules = template.get("Rules")
    if not isinstance(rules, dict):
        return
    for name, rule in rules.items():
        if not isinstance(rule, dict):
            continue
        if "RuleCondition" in rule:
            yield ["Rules", name, "RuleCondition"], name, rule["RuleCondition"]
        assertions = rule.get("Assertions")
        for i, assertion in enumerate(assertions if isinstance(assertions, list) else []):
            if isinstance(assertion, dict) and "Assert" in assertion:
                yield ["Rules", name, "Assertions", i, "Assert"], name, assertion["Assert"]


def findings(template):
    """(path, message) for each misplaced function: the rule, the function, and why."""
    for path, name, expression in rule_expressions(template):
        for where, function, why in misplaced(expression, path):
            yield where, f"Rule {name} uses {function}, which CloudFormation refuses in Rules: {why}"


class RuleFunctions(CloudFormationLintRule):
    id = "E9101"
    shortdesc = "Rules use Ref and the rule functions only"
    description = ("CloudFormation accepts only Ref and the rule-specific functions (Fn::And, Fn::Contains, "
                   "Fn::EachMemberEquals, Fn::EachMemberIn, Fn::Equals, Fn::Not, Fn::Or, Fn::RefAll, Fn::ValueOf, "
                   "Fn::ValueOfAll) in a rule's condition and assertions, and refuses the change set otherwise")
    source_url = ("https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/"
                  "intrinsic-function-reference-rules.html#supported-rule-functions")
    tags = ["rules", "functions"]

    def match(self, cfn):
        return [RuleMatch(path, message) for path, message in findings(cfn.template)]

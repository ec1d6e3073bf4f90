"""The Rules section evaluated for a parameter set, as CloudFormation does before it creates or
updates anything (Template Reference, "Rule functions"): a rule whose RuleCondition holds (or that
has none) must see every Assert hold. Values compare as strings, as parameters reach a rule."""


class Unevaluable(ValueError):
    """A rule function that needs the account (Fn::RefAll, Fn::ValueOf, Fn::ValueOfAll)."""


def evaluate(node, values):
    if isinstance(node, list):
        return [evaluate(n, values) for n in node]
    if not isinstance(node, dict):
        return node if isinstance(node, bool) else str(node)
    if len(node) != 1:
        raise ValueError(f"not a rule function: {node}")
    (function, argument), = node.items()
    if function == "Ref":
        if argument not in values:
            raise ValueError(f"Ref to {argument}, which is not a parameter")
        return values[argument]
    if function in ("Fn::RefAll", "Fn::ValueOf", "Fn::ValueOfAll"):
        raise Unevaluable(f"{function} reads the account; the gate cannot evaluate it")
    args = evaluate(argument, values)
    if function == "Fn::And":
        return all(args)
    if function == "Fn::Or":
        return any(args)
    if function == "Fn::Not":
        return not args[0]
    if function == "Fn::Equals":
        return args[0] == args[1]
    if function == "Fn::Contains":
        return args[1] in args[0]
    if function == "Fn::EachMemberEquals":
        return all(member == args[1] for member in args[0])
    if function == "Fn::EachMemberIn":
        return all(member in args[1] for member in args[0])
    raise ValueError(f"{function} is not a rule function")


def failures(template, values):
    """[(rule, description)] of the assertions that fail for these values (a rule that cannot be
    evaluated fails with the reason)."""
    out = []
    for name, rule in template.get("Rules", {}).items():
        try:
            if "RuleCondition" in rule and not evaluate(rule["RuleCondition"], values):
                continue
            for assertion in rule.get("Assertions", []):
                if not evaluate(assertion["Assert"], values):
                    out.append((name, assertion.get("AssertDescription", "")))
        except (ValueError, TypeError, IndexError) as e:
            out.append((name, f"cannot be evaluated: {e}"))
    return out

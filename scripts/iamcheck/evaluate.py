"""IAM's evaluation of identity-based policies for one authorization: an action on one resource ARN
with a request context. An explicit Deny wins; otherwise an Allow must match the action (Action or
NotAction: wildcards * and ?, case-insensitive), the resource (Resource or NotResource: ARN
wildcards, segment by segment) and every condition; otherwise the request is implicitly denied.

Conditions follow the IAM User Guide ("Condition operators", "Single-valued vs. multivalued
context keys"): operators are ANDed, keys within an operator ANDed, a key's policy values ORed (a
negated operator matches none of them). A key missing from the context makes a condition false,
but true for the negated operators (StringNotEquals, StringNotLike, ArnNotEquals, ArnNotLike,
NumericNotEquals, DateNotEquals), for ...IfExists and for ForAllValues:; Null tests presence.
ForAllValues: every context value matches; ForAnyValue: at least one does. A multivalued key under
a plain operator is read as ForAnyValue. Context key names are case-insensitive."""

import datetime
import functools
import re


class Unsupported(ValueError):
    """A policy the checker cannot evaluate faithfully (an operator, a value or a key it does not know)."""


class Context:
    """The request context of one authorization: key -> list of values. A key the service supplies
    for this action and resource but the checker does not compute is unmodelled (an exact name, or
    a name that starts with one of the prefixes): a condition on it is an error, not a guess. Any
    other key not in values is absent, as IAM has it."""

    def __init__(self, values=None, unmodelled=(), unmodelled_prefixes=()):
        self.values = {k.lower(): v if isinstance(v, list) else [v] for k, v in (values or {}).items()}
        self.names = {k.lower(): k for k in values or {}}  # as the reference spells them, for reports
        self.unmodelled = {k.lower() for k in unmodelled}
        self.unmodelled_prefixes = tuple(p.lower() for p in unmodelled_prefixes)

    def get(self, key):
        key = key.lower()
        if key in self.values:
            return self.values[key]
        if key in self.unmodelled or key.startswith(self.unmodelled_prefixes):
            raise Unsupported(f"the condition key {key} applies here, but the checker does not compute it")
        return None


class Authorization:
    """What IAM authorizes once: an action on one resource, with its context, and why (for reports)."""

    def __init__(self, action, resource, context, why=""):
        self.action, self.resource, self.context, self.why = action, resource, context, why

    def __repr__(self):
        return f"Authorization({self.action} on {self.resource})"


class Decision:
    """The outcome for one Authorization: allowed, the statements that allowed or denied it, and
    for an implicit deny the closest Allow statements with what each lacked."""

    def __init__(self, allowed, by=(), denied_by=(), near=()):
        self.allowed, self.by, self.denied_by, self.near = allowed, list(by), list(denied_by), list(near)


def decide(statements, authorization):
    """IAM's decision for one authorization under these statements."""
    allows, denies, near = [], [], []
    for statement in statements:
        miss = mismatch(statement.body, authorization)
        effect = statement.body.get("Effect")
        if miss is None:
            (allows if effect == "Allow" else denies).append(statement)
        elif effect == "Allow" and miss[0] != "action":
            near.append((statement, miss))
    if denies:
        return Decision(False, denied_by=denies)
    if allows:
        return Decision(True, by=allows)
    near.sort(key=lambda n: closeness(n[0].body, n[1][0], authorization.resource))
    return Decision(False, near=near)


def closeness(body, part, resource):
    """How near an Allow came (lower is nearer): its condition failed; it names resources of the
    same service and type; it names others."""
    if part == "condition":
        return 0
    kind = resource_kind(resource)
    return 1 if any(resource_kind(p) == kind for p in listed(body.get("Resource"))) else 2


def resource_kind(arn):
    """(service, resource type) of an ARN or pattern, e.g. ("ec2", "instance")."""
    parts = arn.split(":", 5)
    return (parts[2], re.split(r"[/:]", parts[5], maxsplit=1)[0]) if len(parts) == 6 else None


def mismatch(body, authorization):
    """None when a statement applies to the authorization; else (part, reason): part is action,
    resource or condition."""
    if "Action" in body:
        if not any(action_matches(p, authorization.action) for p in listed(body["Action"])):
            return "action", "the action is not listed"
    elif not all(not action_matches(p, authorization.action) for p in listed(body.get("NotAction"))):
        return "action", "the action is in NotAction"
    if "Resource" in body:
        patterns = listed(body["Resource"])
        if not any(arn_matches(p, authorization.resource) for p in patterns):
            return "resource", f"{authorization.resource} matches none of {patterns}"
    elif "NotResource" in body:
        patterns = listed(body["NotResource"])
        if any(arn_matches(p, authorization.resource) for p in patterns):
            return "resource", f"{authorization.resource} is in NotResource {patterns}"
    for operator, keys in (body.get("Condition") or {}).items():
        for key, wanted in keys.items():
            met, why = condition(operator, key, listed(wanted), authorization.context)
            if not met:
                return "condition", f"{operator} {key} {listed(wanted)}: {why}"
    return None


def listed(value):
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def glob(pattern, text, ignore_case=False):
    """IAM's wildcard match: * any run of characters, ? one character, nothing else special."""
    return compiled(pattern, ignore_case).fullmatch(text) is not None


@functools.lru_cache(maxsize=4096)
def compiled(pattern, ignore_case):
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.S | (re.I if ignore_case else 0))


def action_matches(pattern, action):
    return glob(pattern, action, ignore_case=True)


def arn_matches(pattern, arn):
    """An ARN against a policy's ARN pattern: "*" matches all; else the six parts (arn, partition,
    service, region, account, resource) each by IAM's wildcards, the resource part whole."""
    if pattern == "*":
        return True
    want, have = pattern.split(":", 5), arn.split(":", 5)
    return len(want) == len(have) == 6 and all(glob(w, h) for w, h in zip(want, have))


NEGATED = {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals", "ArnNotLike",
           "NumericNotEquals", "DateNotEquals", "NotIpAddress"}


def _string(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        raise Unsupported(f"{value!r} is not a number") from None


def _date(value):
    text = _string(value)
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _arn_like(pattern, value):
    return arn_matches(pattern, value) if pattern != "*" else True


COMPARE = {  # base operator -> (does one context value match one policy value?)
    "StringEquals": lambda p, v: _string(p) == _string(v),
    "StringEqualsIgnoreCase": lambda p, v: _string(p).lower() == _string(v).lower(),
    "StringLike": lambda p, v: glob(_string(p), _string(v)),
    "ArnEquals": lambda p, v: _arn_like(_string(p), _string(v)),
    "ArnLike": lambda p, v: _arn_like(_string(p), _string(v)),
    "NumericEquals": lambda p, v: _number(v) == _number(p),
    "NumericLessThan": lambda p, v: _number(v) < _number(p),
    "NumericLessThanEquals": lambda p, v: _number(v) <= _number(p),
    "NumericGreaterThan": lambda p, v: _number(v) > _number(p),
    "NumericGreaterThanEquals": lambda p, v: _number(v) >= _number(p),
    "DateEquals": lambda p, v: _date(v) == _date(p),
    "DateLessThan": lambda p, v: _date(v) < _date(p),
    "DateLessThanEquals": lambda p, v: _date(v) <= _date(p),
    "DateGreaterThan": lambda p, v: _date(v) > _date(p),
    "DateGreaterThanEquals": lambda p, v: _date(v) >= _date(p),
    "Bool": lambda p, v: _string(p).lower() == _string(v).lower(),
}
POSITIVE = {"StringNotEquals": "StringEquals", "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
            "StringNotLike": "StringLike", "ArnNotEquals": "ArnEquals", "ArnNotLike": "ArnLike",
            "NumericNotEquals": "NumericEquals", "DateNotEquals": "DateEquals"}


def condition(operator, key, wanted, context):
    """(met, why) for one key of one condition operator."""
    qualifier, _, base = operator.rpartition(":")
    if qualifier not in ("", "ForAllValues", "ForAnyValue"):
        raise Unsupported(f"the set operator {qualifier}: is not IAM's")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    for value in wanted:
        if isinstance(value, str) and "${" in value:
            raise Unsupported(f"the policy variable in {value!r}")
    have = context.get(key)
    if base == "Null":
        if qualifier or if_exists:
            raise Unsupported(f"{operator} is not an IAM operator")
        absent = not have
        want_absent = _string(wanted[0]).lower() == "true" if wanted else True
        return absent == want_absent, f"the key is {'absent' if absent else 'present: ' + repr(have)}"
    negated = base in NEGATED
    positive = POSITIVE.get(base, base)
    if positive not in COMPARE:
        raise Unsupported(f"the condition operator {operator}")
    compare = COMPARE[positive]

    def one(value):
        hit = any(compare(p, value) for p in wanted)
        return not hit if negated else hit

    if not have:
        if qualifier == "ForAllValues":
            return True, "the key is absent (ForAllValues: true)"
        if qualifier == "ForAnyValue":
            return False, "the key is absent (ForAnyValue: false)"
        met = if_exists or negated
        return met, "the key is absent from the request context"
    if qualifier == "ForAllValues":
        bad = [v for v in have if not one(v)]
        return not bad, f"{bad} of {have} do not match"
    met = any(one(v) for v in have)
    return met, f"the request has {have}"

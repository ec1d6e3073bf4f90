"""A deployment's IAM policy: the SAM template transformed with samtranslator (the library `sam
validate` uses), then every intrinsic function resolved with the deployment's parameter values, as
CloudFormation would. What comes out is the function role's statements: its inline policies, the
AWS::IAM::Policy resources attached to it, and the AWS managed policies it names (from MANAGED)."""

import copy
import functools
import json
import logging
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"  # moto's account
REGION = "us-east-1"
PARTITION = "aws"
DEFAULT_STACK = "ec2-failover"
# The AWS managed policies the templates' roles may name, as AWS publishes them. Their statements
# take part in every decision like the inline ones (AWSLambdaBasicExecutionRole allows CloudWatch
# Logs only, so it never decides an EC2, Auto Scaling, CloudWatch or KMS request).
MANAGED = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": [
        {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": "*"},
    ],
}


class TemplateError(ValueError):
    """A template or deployment the checker cannot turn into a policy (says which and why)."""


class Statement:
    """One policy statement, resolved: where it comes from (policy name, index, Sid) and its body."""

    def __init__(self, policy, index, body):
        self.policy, self.index, self.body = policy, index, body
        self.sid = body.get("Sid")

    @property
    def label(self):
        return self.sid or f"{self.policy}[{self.index}]"

    def __repr__(self):
        return f"Statement({self.label})"


class Deployment:
    """A template deployed with parameter values: its role's statements, ready to evaluate."""

    def __init__(self, template, parameters=None, stack_name=None):
        self.template = template
        self.parameters = dict(parameters or {})
        self.stack_name = stack_name or DEFAULT_STACK
        self.statements = role_statements(template, json.dumps(self.parameters, sort_keys=True), self.stack_name)

    def describe(self):
        given = ", ".join(f"{k}={v}" for k, v in sorted(self.parameters.items()))
        return f"{self.template} ({given or 'defaults'})"


@functools.lru_cache(maxsize=None)
def load(template):
    """A template file (in the repository, or a path) as a dict, with CloudFormation's short tags;
    read once (callers do not change it)."""
    from samtranslator.yaml_helper import yaml_parse

    path = pathlib.Path(template)
    if not path.is_absolute() and not path.exists():
        path = ROOT / template
    return yaml_parse(path.read_text())


@functools.lru_cache(maxsize=None)
def role_statements(template, parameters_json, stack_name):
    """[Statement] of the function role of `template` deployed with these parameter values."""
    return statements_of(load(template), json.loads(parameters_json), stack_name, transformed(template))


@functools.lru_cache(maxsize=None)
def transformed(template):
    """A template file through samtranslator, once: the transform takes no parameter values."""
    return transform(load(template))


def statements_of(document, parameters, stack_name=DEFAULT_STACK, translated=None):
    """[Statement] of the one function's role in a SAM template (a dict) deployed with parameters
    (`translated`: the template through samtranslator already, if at hand)."""
    transformed = translated or transform(document)
    values = parameter_values(transformed, parameters, stack_name)
    resolver = Resolver(transformed, values)
    resources = {name: r for name, r in transformed.get("Resources", {}).items() if resolver.deployed(r)}
    functions = [name for name, r in document.get("Resources", {}).items() if r.get("Type") == "AWS::Serverless::Function"]
    if len(functions) != 1:
        raise TemplateError(f"expected one AWS::Serverless::Function, found {functions}")
    role_name = f"{functions[0]}Role"
    role = resources.get(role_name)
    if role is None or role.get("Type") != "AWS::IAM::Role":
        raise TemplateError(f"samtranslator made no role {role_name} (a Role property is not supported)")
    properties = resolver.resolve(role.get("Properties", {}))
    statements = []
    for policy in properties.get("Policies", []):
        statements += policy_statements(policy["PolicyName"], policy["PolicyDocument"])
    for name, r in resources.items():
        if r.get("Type") == "AWS::IAM::Policy":
            attached = resolver.resolve(r.get("Properties", {}))
            if f"<Ref {role_name}>" in attached.get("Roles", []):
                statements += policy_statements(attached.get("PolicyName", name), attached["PolicyDocument"])
    for arn in properties.get("ManagedPolicyArns", []):
        if arn not in MANAGED:
            raise TemplateError(f"the role names managed policy {arn}, whose statements the checker does not know "
                                "(add them to MANAGED)")
        statements += policy_statements(arn.rsplit("/", 1)[-1], {"Statement": MANAGED[arn]})
    return statements


def policy_statements(name, document):
    found = document.get("Statement", [])
    found = [found] if isinstance(found, dict) else found
    return [Statement(name, i, s) for i, s in enumerate(found)]


def transform(document):
    """The CloudFormation template samtranslator makes of a SAM template (a local CodeUri is given
    an S3 one first, as `sam validate` does)."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    document = copy.deepcopy(document)
    for resource in document.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource.setdefault("Properties", {})["CodeUri"] = "s3://bucket/key"
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=REGION))
    return translator.translate(document, parameter_values={}, get_managed_policy_map=lambda: {})


def parameter_values(document, given, stack_name):
    """Every parameter's value: the given ones, else the defaults; list types as lists."""
    values = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": PARTITION,
              "AWS::StackName": stack_name, "AWS::URLSuffix": "amazonaws.com",
              "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{stack_name}/0"}
    declared = document.get("Parameters", {})
    unknown = set(given) - set(declared)
    if unknown:
        raise TemplateError(f"parameters {sorted(unknown)} are not the template's")
    for name, spec in declared.items():
        if name in given:
            value = given[name]
        elif "Default" in spec:
            value = spec["Default"]
        else:
            raise TemplateError(f"parameter {name} has no default and no value")
        values[name] = typed(spec, value)
    return values


def sub_pieces(text):
    """Fn::Sub's text as [(literal, name)]: each run of literal text and the ${name} after it (None
    after the last)."""
    pieces, pos = [], 0
    while (start := text.find("${", pos)) >= 0:
        end = text.find("}", start)
        if end < 0:
            break
        pieces.append((text[pos:start], text[start + 2:end]))
        pos = end + 1
    return pieces + [(text[pos:], None)]


def typed(spec, value):
    """A parameter's value as CloudFormation hands it to the template: for a list type, a list of
    its members (split on commas, each member space-trimmed: User Guide, "Parameters",
    CommaDelimitedList); else a string ("true" / "false" for a YAML boolean)."""
    kind = spec.get("Type", "String")
    if kind == "CommaDelimitedList" or kind.startswith("List<"):
        members = value if isinstance(value, list) else str(value).split(",")
        return [str(v).strip() for v in members]
    value = json.dumps(value) if isinstance(value, bool) else str(value)
    return value.lower() if value in ("True", "False") else value


class Resolver:
    """CloudFormation's intrinsic functions over a transformed template: Ref, Fn::Sub, Fn::If (with
    the Conditions evaluated), Fn::Join, Fn::Select, Fn::Split, Fn::FindInMap, Fn::GetAtt, and
    AWS::NoValue, which removes what it stands for. A Ref or GetAtt of a resource resolves to a
    placeholder, "<Ref Name>" or "<GetAtt Name.Attribute>": no request names one."""

    NO_VALUE = object()

    def __init__(self, document, values):
        self.document, self.values = document, values
        self.conditions = {}

    def deployed(self, resource):
        return "Condition" not in resource or self.condition(resource["Condition"])

    def condition(self, name):
        if name not in self.conditions:
            definitions = self.document.get("Conditions", {})
            if name not in definitions:
                raise TemplateError(f"no condition {name}")
            self.conditions[name] = bool(self.resolve(definitions[name]))
        return self.conditions[name]

    def resolve(self, node):
        value = self._resolve(node)
        return None if value is self.NO_VALUE else value

    def _resolve(self, node):
        if isinstance(node, list):
            return [v for v in (self._resolve(n) for n in node) if v is not self.NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            function = self.FUNCTIONS.get(key)
            if function:
                return function(self, arg)
        return {k: v for k, v in ((k, self._resolve(v)) for k, v in node.items()) if v is not self.NO_VALUE}

    def ref(self, name):
        if name == "AWS::NoValue":
            return self.NO_VALUE
        if name in self.values:
            return copy.deepcopy(self.values[name])
        if name in self.document.get("Resources", {}):
            return self.resource_ref(name)
        raise TemplateError(f"Ref to unknown {name}")

    def resource_ref(self, name):
        """What a Ref of a resource resolves to (a placeholder: no request names one)."""
        return f"<Ref {name}>"

    def sub(self, arg):
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self._resolve(arg[1]))

        def one(name):
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and name.split(".", 1)[0] in self.document.get("Resources", {}):
                return f"<GetAtt {name}>"
            value = self.ref(name)
            if isinstance(value, list):
                raise TemplateError(f"Fn::Sub of the list parameter {name}")
            return str(value)

        return "".join(literal + ("" if name is None else one(name)) for literal, name in sub_pieces(text))

    def if_(self, arg):
        name, then, otherwise = arg
        return self._resolve(then if self.condition(name) else otherwise)

    def join(self, arg):
        separator, items = arg[0], self._resolve(arg[1])
        return separator.join(str(i) for i in items)

    def select(self, arg):
        index, items = int(self._resolve(arg[0])), self._resolve(arg[1])
        return items[index]

    def split(self, arg):
        separator, text = arg[0], self._resolve(arg[1])
        return str(text).split(separator)

    def find_in_map(self, arg):
        name, top, second = (self._resolve(a) for a in arg)
        return self.document["Mappings"][name][top][second]

    def get_att(self, arg):
        name, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
        return f"<GetAtt {name}.{attribute}>"

    def equals(self, arg):
        a, b = (self._resolve(x) for x in arg)
        return str(a) == str(b) if not isinstance(a, list) and not isinstance(b, list) else a == b

    FUNCTIONS = {
        "Ref": ref, "Fn::Sub": sub, "Fn::If": if_, "Fn::Join": join, "Fn::Select": select, "Fn::Split": split,
        "Fn::FindInMap": find_in_map, "Fn::GetAtt": get_att, "Fn::Equals": equals,
        "Fn::Not": lambda self, arg: not self._resolve(arg[0]),
        "Fn::And": lambda self, arg: all(self._resolve(a) for a in arg),
        "Fn::Or": lambda self, arg: any(self._resolve(a) for a in arg),
        "Condition": lambda self, name: self.condition(name),
    }

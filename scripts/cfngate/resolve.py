"""A template as CloudFormation sees it for one parameter set: through samtranslator (the SAM
transform, as CloudFormation runs it), its Conditions evaluated with the set's values, the
resources and outputs whose condition is false left out, every Fn::If taken, AWS::NoValue
removed, parameters and pseudo parameters put in, and every function whose inputs are then known
(Fn::Join, Fn::Sub, Fn::Select, Fn::Split, Fn::FindInMap) computed. A reference to a resource
stays an intrinsic function (its value exists only once the stack does)."""

import copy

from iamcheck.template import Resolver, TemplateError, load, sub_pieces, transform  # noqa: F401 (TemplateError: for callers)

ACCOUNT = "123456789012"
PARTITION = "aws"


PSEUDO_NAMES = frozenset(["AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::StackName", "AWS::URLSuffix",
                          "AWS::StackId", "AWS::NotificationARNs", "AWS::NoValue"])


def pseudo(region, stack_name):
    return {"AWS::Region": region, "AWS::AccountId": ACCOUNT, "AWS::Partition": PARTITION,
            "AWS::StackName": stack_name, "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:{PARTITION}:cloudformation:{region}:{ACCOUNT}:stack/{stack_name}/0",
            "AWS::NotificationARNs": []}


def concrete(value):
    if isinstance(value, list):
        return all(concrete(v) for v in value)
    return not isinstance(value, dict)


class Partial(Resolver):
    """Resolver that keeps references to resources as intrinsic functions."""

    def resource_ref(self, name):
        return {"Ref": name}

    def get_att(self, arg):
        name, attribute = arg.split(".", 1) if isinstance(arg, str) else (self._resolve(arg[0]), self._resolve(arg[1]))
        return {"Fn::GetAtt": [name, attribute]}

    def sub(self, arg):
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self._resolve(arg[1]))
        kept, out, open_refs = {}, [], False
        for literal, name in sub_pieces(text):
            out.append(literal)
            if name is None:
                break
            if name.startswith("!"):
                value = "${" + name + "}"
            elif name in variables:
                value = variables[name]
                if not concrete(value):
                    kept[name], value = value, "${" + name + "}"
            elif name in self.values:
                value = self.values[name]
                if isinstance(value, list):
                    raise TemplateError(f"Fn::Sub of the list parameter {name}")
            elif name.split(".", 1)[0] in self.document.get("Resources", {}):
                value, open_refs = "${" + name + "}", True
            else:
                raise TemplateError(f"Fn::Sub names {name}, which is no parameter, variable or resource")
            out.append(str(value))
        result = "".join(out)
        if kept:
            return {"Fn::Sub": [result, kept]}
        # "${!Literal}" is CloudFormation's escape for the text "${Literal}".
        return {"Fn::Sub": result} if open_refs else result.replace("${!", "${")

    def join(self, arg):
        separator, items = arg[0], self._resolve(arg[1])
        if isinstance(items, list) and concrete(items):
            return separator.join(str(i) for i in items)
        return {"Fn::Join": [separator, items]}

    def select(self, arg):
        index, items = self._resolve(arg[0]), self._resolve(arg[1])
        if isinstance(items, list) and not isinstance(index, dict):
            return items[int(index)]
        return {"Fn::Select": [index, items]}

    def split(self, arg):
        separator, text = arg[0], self._resolve(arg[1])
        return text.split(separator) if isinstance(text, str) else {"Fn::Split": [separator, text]}

    FUNCTIONS = dict(Resolver.FUNCTIONS, **{"Fn::GetAtt": get_att, "Fn::Sub": sub, "Fn::Join": join,
                                            "Fn::Select": select, "Fn::Split": split})


def cloudformation(template):
    """The template as CloudFormation runs it: SAM templates through samtranslator."""
    document = load(template) if isinstance(template, str) else template
    return transform(document) if "Transform" in document else copy.deepcopy(document)


def resolved(transformed, values):
    """(resolved template, conditions) for one set: `values` holds every parameter's typed value
    and the pseudo parameters; `conditions` maps each condition to its value."""
    resolver = Partial(transformed, values)
    conditions = {name: resolver.condition(name) for name in transformed.get("Conditions", {})}
    out = {k: copy.deepcopy(v) for k, v in transformed.items()
           if k in ("AWSTemplateFormatVersion", "Description")}
    resources = {}
    for name, resource in transformed.get("Resources", {}).items():
        if not resolver.deployed(resource):
            continue
        body = {k: v for k, v in resource.items() if k != "Condition"}
        resources[name] = resolver.resolve(body)
    out["Resources"] = resources
    outputs = {}
    for name, output in transformed.get("Outputs", {}).items():
        if resolver.deployed(output):
            outputs[name] = resolver.resolve({k: v for k, v in output.items() if k != "Condition"})
    if outputs:
        out["Outputs"] = outputs
    return out, conditions

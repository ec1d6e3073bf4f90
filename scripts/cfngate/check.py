"""The gate over every template and documented parameter set: what CloudFormation refuses when it
creates the change set (functions where they are not accepted, a default or a value outside its
constraints, a failed rule) and when it creates the resources (a reference to a resource a false
condition left out, a property its schema refuses), each finding naming the template, the set
and the place."""

import pathlib

from . import parameters, references, resolve, rules, schemas, sections, sets


def template_findings(template, text=None):
    """Findings about a template as a whole (its sections, short forms, defaults)."""
    path = pathlib.Path(template)
    path = path if path.is_absolute() else sets.ROOT / path
    raw = resolve.load(str(path))
    transformed = resolve.cloudformation(raw)
    out = sections.check(raw)
    if transformed is not raw and "Transform" in raw:
        out += [f"(as transformed) {f}" for f in sections.check(transformed)]
    out += sections.short_forms(text if text is not None else path.read_text())
    out += parameters.defaults(raw)
    return out, transformed


def set_findings(transformed, given, region, stack_name="ec2-failover"):
    """Findings for one parameter set of a transformed template."""
    values, out = parameters.values(transformed, given)
    if out:
        return out
    values.update(resolve.pseudo(region, stack_name))
    out += [f"rule {name} fails: {description}" for name, description in rules.failures(transformed, values)]
    try:
        resolved, conditions = resolve.resolved(transformed, values)
    except (resolve.TemplateError, KeyError, IndexError, TypeError, ValueError) as e:
        return out + [f"does not resolve: {e}"]
    out += references.dangling(resolved, transformed, conditions)
    out += lambda_environment(resolved)
    out += [f"{path}: {rule} {message}" for path, rule, message in schemas.errors(resolved, region)]
    return out


def run(documented=None, templates=(sets.PAIR, sets.GROUP, sets.SERVICE_ALARM)):
    """[(template, set name or None, finding)] over the templates and the documented sets."""
    documented = sets.documented() if documented is None else documented
    out = []
    for template in templates:
        whole, transformed = template_findings(template)
        out += [(template, None, f) for f in whole]
        for name, of, region, given in documented:
            if of == template:
                out += [(template, f"{name} in {region}", f) for f in set_findings(transformed, given, region)]
    return out


def lambda_environment(resolved):
    """Lambda refuses a function whose environment variables total more than 4 KB (Lambda
    Developer Guide, "Lambda quotas": "Function environment variables: 4 KB, for all environment
    variables associated with the function, in aggregate"); CloudFormation then fails the stack.
    A long ExtraAlarmNames list is the way there."""
    out = []
    for name, resource in resolved.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Lambda::Function":
            continue
        variables = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        size = sum(len(str(k).encode()) + len(str(v).encode()) for k, v in variables.items() if not isinstance(v, dict))
        if size > 4096:
            out.append(f"Resources/{name}/Properties/Environment/Variables: {size} bytes in all, Lambda's limit is 4096")
    return out

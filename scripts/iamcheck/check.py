"""Reads the proxy's record files and decides every request the function signed under the policy
of the deployment its access key was registered as (the latest registration before the request,
in the same file); collects the denials, the errors and the statements no request used."""

import glob
import json
import os
import re

from .authorizations import authorizations
from .evaluate import Unsupported, decide
from .template import MANAGED, Deployment, TemplateError, load, policy_statements

# The function's access keys in the tests and scripts start so; such a key with no registered
# deployment is an error rather than a set-up request that goes unchecked.
FUNCTION_KEY_PREFIX = "AKIDFUNCTION"
QUIET_PARAMS = {"ClientToken"}
GLOBAL_CONTEXT = {"aws:requestedregion", "aws:principalaccount", "aws:securetransport", "aws:resourceaccount",
                  "ec2:region"}
AN_ID = re.compile(r"\b(i|vol|snap|eipalloc|eni|subnet|vpc|lt|sg)-[0-9a-f]{8,17}\b")


class Finding:
    """A denied request, or one the checker could not decide, with what to tell the reader."""

    def __init__(self, kind, action, headline, lines, where):
        self.kind, self.action, self.headline, self.lines, self.where = kind, action, headline, lines, where
        self.count = 1

    @property
    def key(self):
        """What makes two findings the same, ids aside (one report for a gap that many tests hit)."""
        return self.kind, self.action, self.headline, tuple(
            AN_ID.sub("<id>", line) for line in self.lines[2:] if not line.startswith("needs:"))


class Result:
    def __init__(self):
        self.checked = self.unchecked = self.files = self.stack_checked = 0
        self.findings = {}
        self.used = {}  # template -> {statement label}
        self.deployed = {}  # template -> {statement label: Statement}
        self.deployments = set()

    def add(self, finding):
        if finding.key in self.findings:
            self.findings[finding.key].count += 1
        else:
            self.findings[finding.key] = finding

    @property
    def failed(self):
        return bool(self.findings)

    def unused(self, templates=None):
        """{template: [statement labels]} of the Sid'd statements no checked request used, among those
        its recorded deployments had and those the template declares but no deployment had."""
        out = {}
        for template in sorted(self.deployed):
            declared = declared_sids(templates.get(template, template) if templates else template)
            labels = {s for s in self.deployed[template] if self.deployed[template][s].sid} | declared
            # A statement whose Sid starts with "Lambda" is for what Lambda itself does with the
            # role (send a failed event to the queue, make the function's network interfaces),
            # never for the function's own requests.
            labels = {s for s in labels if not s.startswith(LAMBDAS_OWN)}
            unused = sorted(labels - self.used.get(template, set()))
            if unused:
                out[template] = [(s, s not in self.deployed[template]) for s in unused]
        return out


LAMBDAS_OWN = "Lambda"


def declared_sids(template):
    """Every statement Sid written in a template file (deployed or not)."""
    found = set()

    def walk(node):
        if isinstance(node, dict):
            if "Sid" in node and "Effect" in node and isinstance(node["Sid"], str):
                found.add(node["Sid"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(load(template))
    return found


def record_files(paths):
    files = []
    for path in paths:
        files += sorted(glob.glob(os.path.join(path, "*.jsonl"))) if os.path.isdir(path) else [path]
    return files


def check(paths, templates=None):
    """The Result of checking every record file under paths (files or directories). `templates`
    maps a template name as registered (template.yaml) to another file to read in its place."""
    templates = templates or {}
    result = Result()
    for path in record_files(paths):
        result.files += 1
        registered = {}
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                record = json.loads(line)
                where = f"{path}:{number}"
                if record.get("kind") == "deployment":
                    registered[record["access_key"]] = record
                    continue
                check_request(result, record, registered, where, templates)
    return result


def managed(deployment):
    """The AWS managed policies' statements of a deployment's role (moto attaches none to a role its
    CloudFormation makes; AWS would, from the template's ManagedPolicyArns)."""
    names = {arn.rsplit("/", 1)[-1] for arn in MANAGED}
    return [s for s in deployment.statements if s.policy in names]


def check_request(result, record, registered, where, templates):
    key = record.get("access_key") or ""
    deployment_record = registered.get(key)
    action = f"{record.get('service')}:{record.get('action')}"
    if deployment_record is None:
        if key.startswith(FUNCTION_KEY_PREFIX):
            result.add(Finding("error", action, f"{action} signed by {key}, which no deployment was registered for",
                               [request_line(record), "register it first: POST /_proxy/deployment (see ec2_proxy.py)"],
                               where))
        else:
            result.unchecked += 1
        return
    result.checked += 1
    source = deployment_record.get("source") or "unknown source"
    template = deployment_record["template"]
    try:
        deployment = Deployment(templates.get(template, template), deployment_record.get("parameters"),
                                deployment_record.get("stack_name"))
    except TemplateError as e:
        result.add(Finding("error", action, f"the deployment of {template} cannot be made: {e}",
                           [f"registered by {source} as {key}"], where))
        return
    result.deployments.add(deployment.describe())
    deployed = result.deployed.setdefault(template, {})
    deployed.update({s.label: s for s in deployment.statements})
    # A deployment made from a stack also carries its role's policies as IAM holds them: a request
    # must be allowed by those too (the template resolved here and the stack agree, or one is wrong).
    stack = [s for p in deployment_record.get("deployed_policies", [])
             for s in policy_statements(p["PolicyName"], p["PolicyDocument"])]
    if stack:
        result.stack_checked += 1
    try:
        found = authorizations(record)
        decisions = [(a, decide(deployment.statements, a)) for a in found]
        decisions += [(a, decide(stack + managed(deployment), a), "the deployed stack's role") for a in found] \
            if stack else []
    except Unsupported as e:
        result.add(Finding("error", action, f"{record.get('action')} cannot be checked: {e}",
                           [request_line(record), f"from {source}"], f"{where} ({template})"))
        return
    for authorization, decision, *by in decisions:
        if decision.allowed:
            if not by:
                result.used.setdefault(template, set()).update(s.label for s in decision.by)
            continue
        lines = [request_line(record), f"deployment: {deployment.describe()}, signed {key}, from {source}",
                 f"denied: {authorization.action} on {authorization.resource} ({authorization.why})"
                 + (f", by {by[0]}" if by else "")]
        lines += explain(decision)
        lines.append(f"needs: an Allow of {authorization.action} on {authorization.resource} with {facts(authorization)}")
        result.add(Finding("denied", authorization.action, f"{authorization.action} for {record.get('action')}",
                           lines, where))


def explain(decision):
    if decision.denied_by:
        return [f"explicit Deny in {', '.join(s.label for s in decision.denied_by)} (a Deny always wins)"]
    if not decision.near:
        return ["missing: no Allow statement lists this action; the policy needs one for it"]
    lines = []
    for statement, (part, why) in decision.near[:3]:
        lines.append(f"closest: {statement.label} ({statement.policy}): its {part} fails: {why}")
    return lines


def facts(authorization):
    """The context an Allow would have to accept, but the keys every request has."""
    context = authorization.context
    shown = {context.names.get(k, k): v if len(v) > 1 else v[0] for k, v in sorted(context.values.items())
             if k not in GLOBAL_CONTEXT}
    return f"this context: {json.dumps(shown)}" if shown else "no condition keys"


def request_line(record):
    params = [f"{k}={v}" for k, v in sorted(record.get("params", {}).items()) if k not in QUIET_PARAMS]
    shown = ", ".join(params[:10]) + (f", ... ({len(params) - 10} more)" if len(params) > 10 else "")
    return f"request: {record.get('action')} {shown}".rstrip()


def report(result, templates=None, out=print):
    """Prints the findings, then the unused statements, then a summary; returns the exit status."""
    for finding in result.findings.values():
        times = f" ({finding.count} times)" if finding.count > 1 else ""
        out(f"iam-check: {finding.kind.upper()} {finding.headline}{times}, first at {finding.where}")
        for line in finding.lines:
            out(f"    {line}")
    for template, labels in result.unused(templates).items():
        for label, undeployed in labels:
            why = "no recorded deployment has it" if undeployed else "no request used it"
            out(f"iam-check: warning: {template}: statement {label} allowed nothing ({why})")
    denied = sum(f.count for f in result.findings.values() if f.kind == "denied")
    errors = sum(f.count for f in result.findings.values() if f.kind == "error")
    out(f"iam-check: {result.checked} requests by the function checked in {result.files} record files against "
        f"{len(result.deployments)} deployments: {denied} denied, {errors} not checkable; "
        f"{result.unchecked} set-up requests not checked; {result.stack_checked} also against a deployed stack's role")
    if not result.checked and not result.failed:
        out("iam-check: no request by the function was recorded")
        return 1
    return 1 if result.failed else 0

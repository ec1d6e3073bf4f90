"""EC2's request throttling: token buckets per action, as EC2 applies them to an account in a Region.

The specification is AWS's page "Request throttling for the Amazon EC2 API" (EC2 Developer Guide,
https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html; the EC2 API Reference's
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/throttling.html is the same page). What it
says, and what the local AWS does:

- Request rate limiting: each API action has its own bucket ("limits are applied to individual API
  actions, not API action categories"); each request takes one token; a bucket refills at its rate
  up to its maximum. The numbers are the category's unless the action is listed on its own:
      category (the page's table)                          capacity  refill (tokens per second)
      non-mutating: Describe*, List*, Search*, Get*             100    20
      unfiltered and unpaginated non-mutating                    50    10
      mutating: every other action                               50     5
      resource-intensive (AuthorizeSecurityGroupIngress, ...)    50     5
  and the "uncategorized actions" of the page's second table, with their own numbers (UNCATEGORIZED
  below, the whole table as the page gives it), among them RunInstances 5 / 2, StartInstances 5 / 2,
  TerminateInstances 100 / 5, CreateTags and DeleteTags 100 / 10. The actions the page does not
  list, such as StopInstances, AssociateAddress, ReplaceRoute and AttachVolume, are mutating: 50 / 5.
  An unfiltered and unpaginated request (DescribeInstances, DescribeInstanceStatus,
  DescribeNetworkInterfaces, DescribeSecurityGroups, DescribeSnapshots, DescribeSpotInstanceRequests,
  DescribeVolumes with no Filter.N, no MaxResults and no NextToken) takes its token from a smaller
  bucket of its own (50 / 10), separate from the action's standard one (100 / 20). The page reads
  "without specifying either pagination or a filter": ids (InstanceId.N...) are neither, so a
  request naming ids but no filter is unfiltered here. The console's buckets are not modelled.
- Resource rate limiting: RunInstances, StartInstances, StopInstances and TerminateInstances also
  take one token per instance from a resource bucket (RunInstances 1000 / 2, TerminateInstances
  1000 / 20, StartInstances 1000 / 2, StopInstances 1000 / 20): the instances named (InstanceId.N),
  for RunInstances its MaxCount (the most it launches). A request is throttled when either of its
  buckets cannot pay, and then takes nothing from either.

A bucket refills continuously (rate x seconds elapsed, up to its maximum), which the page's
fractional rates (0.1 token per second) imply; it starts full. Buckets are per Region (the
request's credential scope) for the one account the local AWS is. The emulator's own questions to
moto are not requests and take no token.

A request that finds a bucket empty is answered as EC2 answers it, without reaching moto: HTTP 503
<Code>RequestLimitExceeded</Code> "Request limit exceeded." (EC2's Query error XML, faults.py), and
logged with "throttled": true and "bucket": the bucket that was empty (e.g. "StartInstances",
"DescribeInstances (unfiltered)", "RunInstances (resources)"). Only EC2's Query actions are
throttled: not Auto Scaling's (the credential scope says which service), not its lifecycle calls,
not CloudWatch's bridge, not the control API.

POST /_proxy/config (state.py) refills every bucket and takes
  "ec2_throttle": true | false       on by default: real EC2 is the specification
  "ec2_throttle_scale": 1.0          multiplies every capacity and refill rate (a capacity is at least
                                     one token): 0.1 throttles a bench's function ten times sooner
"""

import math
import threading
import time

from .autoscaling import LIFECYCLE
from .faults import credential_scope

NON_MUTATING = (100, 20)
UNFILTERED = (50, 10)
MUTATING = (50, 5)
RESOURCE_INTENSIVE = (50, 5)
NON_MUTATING_PREFIXES = ("Describe", "List", "Search", "Get")
UNFILTERED_ACTIONS = {"DescribeInstances", "DescribeInstanceStatus", "DescribeNetworkInterfaces",
                      "DescribeSecurityGroups", "DescribeSnapshots", "DescribeSpotInstanceRequests",
                      "DescribeVolumes"}
RESOURCE_INTENSIVE_ACTIONS = {"AcceptVpcPeeringConnection", "AuthorizeSecurityGroupIngress",
                              "CancelSpotInstanceRequests", "CreateKeyPair", "CreateVpcPeeringConnection",
                              "DeleteVpcPeeringConnection", "RejectVpcPeeringConnection",
                              "RevokeSecurityGroupIngress", "RequestSpotInstances"}
# The page's "Uncategorized actions": action, capacity, refill, as the page lists them.
UNCATEGORIZED_TABLE = """
    AcceptVpcEndpointConnections 10 1           AdvertiseByoipCidr 1 0.1
    AssignIpv6Addresses 100 5                   AssignPrivateIpAddresses 100 5
    AssignPrivateNatGatewayAddress 10 1         AssociateCapacityReservationBillingOwner 1 0.5
    AssociateEnclaveCertificateIamRole 10 1     AssociateIamInstanceProfile 100 5
    AssociateNatGatewayAddress 10 1             AttachVerifiedAccessTrustProvider 10 2
    AuthorizeClientVpnIngress 5 2               CancelDeclarativePoliciesReport 1 1
    CopyImage 100 1                             CreateClientVpnRoute 5 2
    CreateCoipCidr 5 1                          CreateCoipPool 5 1
    CreateDefaultSubnet 1 1                     CreateDefaultVpc 1 1
    CreateLaunchTemplateVersion 100 5           CreateNatGateway 10 1
    CreateNetworkInterface 100 5                CreateRestoreImageTask 50 0.1
    CreateSnapshot 100 5                        CreateSnapshots 100 5
    CreateSpotDatafeedSubscription 50 3         CreateStoreImageTask 50 0.1
    CreateSubnetCidrReservation 5 1             CreateTags 100 10
    CreateVerifiedAccessEndpoint 20 4           CreateVerifiedAccessGroup 10 2
    CreateVerifiedAccessInstance 10 2           CreateVerifiedAccessTrustProvider 10 2
    CreateVolume 100 5                          CreateVpcEndpoint 4 0.3
    CreateVpcEndpointServiceConfiguration 10 1  DeleteClientVpnRoute 5 2
    DeleteCoipCidr 5 1                          DeleteCoipPool 5 1
    DeleteCoipPoolPermission 5 1                DeleteNatGateway 10 1
    DeleteNetworkInterface 100 5                DeleteSnapshot 100 5
    DeleteSpotDatafeedSubscription 50 3         DeleteSubnetCidrReservation 5 1
    DeleteQueuedReservedInstances 5 5           DeleteTags 100 10
    DeleteVerifiedAccessEndpoint 20 4           DeleteVerifiedAccessGroup 10 2
    DeleteVerifiedAccessInstance 10 2           DeleteVerifiedAccessTrustProvider 10 2
    DeleteVolume 100 5                          DeleteVpcEndpoints 4 0.3
    DeleteVpcEndpointServiceConfigurations 10 1 DeprovisionByoipCidr 1 0.1
    DeregisterImage 100 5                       DescribeAggregateIdFormat 10 10
    DescribeByoipCidrs 1 0.5                    DescribeCapacityBlockExtensionOfferings 10 0.15
    DescribeCapacityBlockOfferings 10 0.15      DescribeDeclarativePoliciesReports 5 5
    DescribeHostReservations 5 2                DescribeHostReservationOfferings 5 2
    DescribeIdentityIdFormat 10 10              DescribeIdFormat 10 10
    DescribeInstanceTopology 1 1                DescribeMovingAddresses 1 1
    DescribePrincipalIdFormat 10 10             DescribeReservedInstancesOfferings 10 10
    DescribeSecurityGroupReferences 20 5        DescribeSpotDatafeedSubscription 100 13
    DescribeSpotFleetInstances 100 5            DescribeSpotFleetRequestHistory 100 5
    DescribeSpotFleetRequests 50 3              DescribeStaleSecurityGroups 20 5
    DescribeStoreImageTasks 50 0.5              DescribeVerifiedAccessInstanceLoggingConfigurations 10 2
    DetachVerifiedAccessTrustProvider 10 2      DisableFastLaunch 5 2
    DisableImageBlockPublicAccess 1 0.1         DisableSnapshotBlockPublicAccess 1 0.1
    DisassociateCapacityReservationBillingOwner 1 0.5  DisassociateEnclaveCertificateIamRole 10 1
    DisassociateIamInstanceProfile 100 5        DisassociateNatGatewayAddress 10 1
    EnableFastLaunch 5 2                        EnableImageBlockPublicAccess 1 0.1
    EnableSnapshotBlockPublicAccess 1 0.1       GetAssociatedEnclaveCertificateIamRoles 10 1
    GetDeclarativePoliciesReportSummary 5 5     GetHostReservationPurchasePreview 5 2
    ModifyImageAttribute 100 5                  ModifyInstanceMetadataDefaults 2 2
    ModifyInstanceMetadataOptions 100 5         ModifyLaunchTemplate 100 5
    ModifyNetworkInterfaceAttribute 100 5       ModifySnapshotAttribute 100 5
    ModifyVerifiedAccessEndpoint 20 4           ModifyVerifiedAccessEndpointPolicy 20 4
    ModifyVerifiedAccessGroup 10 2              ModifyVerifiedAccessGroupPolicy 20 4
    ModifyVerifiedAccessInstance 10 2           ModifyVerifiedAccessInstanceLoggingConfiguration 10 2
    ModifyVerifiedAccessTrustProvider 10 2      ModifyVpcEndpoint 4 0.3
    ModifyVpcEndpointServiceConfiguration 10 1  MoveAddressToVpc 1 1
    ProvisionByoipCidr 1 0.1                    PurchaseCapacityBlock 10 0.15
    PurchaseCapacityBlockExtension 10 0.15      PurchaseHostReservation 5 2
    PurchaseReservedInstancesOffering 5 5       RejectVpcEndpointConnections 10 1
    RestoreAddressToClassic 1 1                 RevokeClientVpnIngress 5 2
    RunInstances 5 2                            StartDeclarativePoliciesReport 1 1
    StartInstances 5 2                          TerminateInstances 100 5
    UnassignPrivateIpAddresses 100 5            UnassignPrivateNatGatewayAddress 10 1
    WithdrawByoipCidr 1 0.1
"""
_WORDS = UNCATEGORIZED_TABLE.split()
UNCATEGORIZED = {_WORDS[i]: (float(_WORDS[i + 1]), float(_WORDS[i + 2])) for i in range(0, len(_WORDS), 3)}
# Resource rate limiting: the page's "Resource token bucket sizes and refill rates".
RESOURCE = {"RunInstances": (1000, 2), "TerminateInstances": (1000, 20), "StartInstances": (1000, 2),
            "StopInstances": (1000, 20)}


def request_bucket(action, params):
    """(name, capacity, refill) of the request bucket a request of this action takes a token from."""
    if action in UNCATEGORIZED:
        return (action, *UNCATEGORIZED[action])
    if action.startswith(NON_MUTATING_PREFIXES):
        if action in UNFILTERED_ACTIONS and not any(
                k.startswith("Filter.") or k in ("MaxResults", "NextToken") for k in params):
            return (f"{action} (unfiltered)", *UNFILTERED)
        return (action, *NON_MUTATING)
    return (action, *(RESOURCE_INTENSIVE if action in RESOURCE_INTENSIVE_ACTIONS else MUTATING))


def resources(action, params):
    """How many resource tokens a request takes (0: the action has no resource bucket)."""
    if action not in RESOURCE:
        return 0
    if action == "RunInstances":
        try:
            return max(1, int(params.get("MaxCount", 1)))
        except ValueError:
            return 1
    return sum(1 for k in params if k.startswith("InstanceId."))


def throttled_service(headers):
    """Whether requests signed so are EC2's: the credential scope says ec2, or says nothing."""
    return credential_scope(headers)[1] in (None, "ec2")


class Buckets:
    """The account's buckets, full at first: {(region, name): [tokens, when last counted]}."""

    def __init__(self, enabled=True, scale=1.0):
        self.enabled, self.scale = enabled, scale
        self.lock = threading.Lock()
        self.buckets = {}

    def take(self, headers, action, params, now=None):
        """Takes a request's tokens; the name of a bucket that could not pay (nothing taken), or
        None when it may go on (or is not throttled: throttling off, not EC2, a lifecycle call)."""
        if not self.enabled or action in LIFECYCLE or not throttled_service(headers):
            return None
        region = credential_scope(headers)[0] or ""
        needs = [(request_bucket(action, params), 1)]
        count = resources(action, params)
        if count:
            needs.append(((f"{action} (resources)", *RESOURCE[action]), count))
        now = time.monotonic() if now is None else now
        with self.lock:
            counted = []
            for (name, capacity, refill), cost in needs:
                capacity, refill = max(1.0, capacity * self.scale), refill * self.scale
                bucket = self.buckets.setdefault((region, name), [capacity, now])
                bucket[0] = min(capacity, bucket[0] + refill * (now - bucket[1]))
                bucket[1] = now
                if bucket[0] < cost:
                    return name
                counted.append((bucket, cost))
            for bucket, cost in counted:
                bucket[0] -= cost
        return None


def read_settings(settings):
    """(enabled, scale) from POST /_proxy/config's settings; ValueError when they are not those."""
    enabled = settings.get("ec2_throttle", True)
    if not isinstance(enabled, bool):
        raise ValueError("ec2_throttle is true or false")
    scale = settings.get("ec2_throttle_scale", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not (math.isfinite(scale) and scale > 0):
        raise ValueError("ec2_throttle_scale is a number above 0 (1: EC2's buckets)")
    return enabled, float(scale)

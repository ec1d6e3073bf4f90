"""The proxy's state, shared by all connection threads: its settings (POST /_proxy/config), the
fault counters, EC2's throttling buckets (throttle.py), the request log, and what strict mode shows
instead of moto's state (the overlay of instance transitions, holds, snapshot states, start
failures, attachments, scheduled events).
"""

import random
import threading
import urllib.parse

from .faults import FAULTS, KMS_REASON, credential_scope
from .throttle import Buckets, read_settings as throttle_settings

# Strict mode's settings when POST /_proxy/config leaves them out.
STRICT_DEFAULTS = {"strict": True, "pending_seconds": 2.0, "stopping_seconds": 2.0, "initializing_seconds": 4.0,
                   "attaching_seconds": 2.0, "tag_write_seconds": 0.1, "stale_read_seconds": 0.0}
PENDING_REASON = ("pending", "pending")


class State:
    """Settings, counters and the request log, shared by all connection threads."""

    recorder = None  # a Recorder when requests are recorded for the IAM checker (--record)

    def __init__(self, upstream, latency_ms=0.0, fault_rate=0.0, seed=0, faults=FAULTS):
        self.upstream = urllib.parse.urlsplit(upstream)
        self.lock = threading.Lock()
        # instance -> the private address DescribeInstances shows (POST /_proxy/network)
        self.network = {}
        # instance -> {"request": "sir-...", "type": "one-time" | "persistent"} (POST /_proxy/spot)
        self.spot = {}
        self.configure({"latency_ms": latency_ms, "fault_rate": fault_rate, "seed": seed, "faults": list(faults)})

    def configure(self, settings):
        faults = settings.get("faults", list(FAULTS))
        unknown = [f for f in faults if f not in FAULTS]
        if unknown:
            raise ValueError(f"unknown faults {unknown}; known: {list(FAULTS)}")
        strict = settings.get("strict", STRICT_DEFAULTS["strict"])
        if not isinstance(strict, bool):
            raise ValueError("strict is true or false")
        seconds = []
        for name in ("pending_seconds", "stopping_seconds", "initializing_seconds", "attaching_seconds",
                     "tag_write_seconds", "stale_read_seconds"):
            value = float(settings.get(name, STRICT_DEFAULTS[name]))
            if not value >= 0:
                raise ValueError(f"{name} is a number of seconds, 0 or more")
            seconds.append(value)
        throttle = throttle_settings(settings)
        with self.lock:
            # EC2's request throttling (throttle.py): every bucket full again, as after a pause.
            self.buckets = Buckets(*throttle)
            self.latency = float(settings.get("latency_ms", 0)) / 1000.0
            self.fault_rate = float(settings.get("fault_rate", 0))
            self.seed = settings.get("seed", 0)
            self.faults = faults
            self.counts = {}
            self.log = []
            self.strict = strict
            (self.pending_seconds, self.stopping_seconds, self.initializing_seconds, self.attaching_seconds,
             self.tag_write_seconds, self.stale_read_seconds) = seconds
            # allocation id -> (its DescribeAddresses item before the last move, until when it shows)
            self.stale = {}
            # resources whose tags a CreateTags or DeleteTags is changing now
            self.tagging = set()
            # [{"service", "region", "action", "fault"}]: every request they cover fails (POST /_proxy/outage)
            self.outages = []
            # Availability Zones gone dark (POST /_proxy/dark-zone)
            self.dark_zones = set()
            # CreateSnapshot of one volume at most once in this many seconds (ebs_snapshots.py)
            self.snapshot_rate_seconds = float(settings.get("snapshot_rate_seconds", 15))
            # Route 53 ARC's shifts (POST /_proxy/zonal-shift, /_proxy/autoshift; zonalshift.py)
            self.zonal_shifts = []
            # the entries EventBridge accepted (eventbus.py), for GET /_proxy/events
            self.events = []
            self.autoshifts = []
            if not settings.get("keep_lifecycle") or not hasattr(self, "holds"):
                self.completions = []
                self.holds = []
                self.snapshot_states = {}
                # volume -> when its last CreateSnapshot was accepted (monotonic seconds)
                self.snapshotted = {}
                # snapshot -> the dark zone its volume is in: pending while that zone is dark
                self.dark_snapshots = {}
                # instance -> {"kind": "start" | "stop" | "kms", "until", "checks_until"}
                self.overlay = {}
                # instance -> "insufficient" | "kms"
                self.failures = {}
                # instance -> the instance types an insufficient failure is for (none: every type)
                self.failure_types = {}
                # volume -> when its attachment stops showing `attaching` (monotonic seconds)
                self.attaching = {}
                # instance -> [{"code", "not_before", "description"}]: EC2's scheduled events
                self.scheduled = {}

    def fault_for(self, action, headers=None):
        """The fault for the next request of this action, or None: an outage that covers it (its
        service and region read from the request's credential scope), else the seeded faults."""
        region, service = credential_scope(headers)
        with self.lock:
            n = self.counts.get(action, 0)
            self.counts[action] = n + 1
            for outage in self.outages:
                if all(outage.get(k) in (None, v) for k, v in (("service", service), ("region", region),
                                                               ("action", action))):
                    return outage["fault"]
            if not self.faults or self.fault_rate <= 0:
                return None
            rng = random.Random(f"{self.seed}/{action}/{n}")
            if rng.random() >= self.fault_rate:
                return None
            return rng.choice(self.faults)

    def record(self, entry):
        with self.lock:
            self.log.append(entry)

    # The overlay: what strict mode shows instead of moto's state. Callers hold the lock.

    def view(self, instance, now):
        """(state, checks, reason, until, checks_until) the overlay shows for an instance now, or
        None where moto's own state is right. Transitions that ended are forgotten."""
        entry = self.overlay.get(instance)
        if entry is None:
            return None
        kind, until = entry["kind"], entry["until"]
        if kind == "start":
            if now < until:
                return "pending", "initializing", PENDING_REASON, until, entry["checks_until"]
            if now < entry["checks_until"]:
                return "running", "initializing", None, None, entry["checks_until"]
        elif kind == "stop":
            if now < until:
                return "stopping", "not-applicable", None, until, None
        elif kind == "kms":
            if now < until:
                return "pending", "initializing", PENDING_REASON, until, until
            # Stopped again, and the reason stays until the instance is next started or stopped.
            return "stopped", "not-applicable", KMS_REASON, None, None
        del self.overlay[instance]
        return None

    def shown(self, instance, now):
        """The state the overlay shows for an instance, or None."""
        view = self.view(instance, now)
        return view[0] if view else None

    def begin(self, instance, kind, now):
        """Starts a transition of an instance: a start (pending), a stop (stopping) or a start
        that a KMS key will fail (pending, then stopped)."""
        if kind == "stop":
            self.overlay[instance] = {"kind": kind, "until": now + self.stopping_seconds}
        else:
            until = now + self.pending_seconds
            checks_until = until + self.initializing_seconds if kind == "start" else until
            self.overlay[instance] = {"kind": kind, "until": until, "checks_until": checks_until}

    def settle(self, instances, now):
        """Ends every transition of these instances and volume attachments (None: all) now;
        returns those it ended."""
        settled = []
        for volume in list(self.attaching if instances is None else instances):
            if self.attaching.pop(volume, None) is not None:
                settled.append(volume)
        for instance in list(self.overlay if instances is None else instances):
            entry = self.overlay.get(instance)
            if entry is None:
                continue
            if entry["kind"] == "kms":
                entry["until"] = entry["checks_until"] = min(entry["until"], now)
            else:
                del self.overlay[instance]
            settled.append(instance)
        return settled

    def instances(self, now):
        """The overlay and the start failures, for GET /_proxy/instances."""
        shown = {}
        for instance in sorted(set(self.overlay) | set(self.failures)):
            view = self.view(instance, now)
            state, checks, reason, until, checks_until = view or (None, None, None, None, None)
            shown[instance] = {"state": state, "until": until, "checks": checks, "checks_until": checks_until,
                               "reason": list(reason) if reason else None, "failure": self.failures.get(instance)}
        return shown

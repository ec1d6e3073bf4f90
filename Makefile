# The project's commands. A newcomer needs two: `make demo` and `make test`.
# Everything they need (a Python venv with moto, cargo-lambda, cfn-lint...) is installed here,
# into .venv, on first use.

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CARGO ?= cargo
export MOTO_SERVER := $(abspath $(VENV)/bin/moto_server)

TOOLS := PATH="$(abspath $(VENV))/bin:$$PATH" SAM_CLI_TELEMETRY=0
EVENT ?= events/ec2-state-change-primary-stopped.json
BOOTSTRAP ?= target/debug/bootstrap

.PHONY: help demo drill test rust-tests local-demos bench fuzz fmt-check clippy template-check emulator-check events-check demo-check iam-check \
	invoke sam-build venv clean-local

## help: this list (the Makefile's ## lines)
help:
	@sed -n 's/^## \{0,1\}//p' $(MAKEFILE_LIST)

## demo: run a real failover locally against a local EC2 API (moto)
##   make demo MODE=group: a single-instance Auto Scaling group's Elastic IP follows its new instance
##   make demo MODE=asg-ebs: a stateful group's data volume follows its instance into the other zone
##   make demo MODE=health: the service dies on a healthy instance; the service check moves the IP
##   make demo MODE=private: a pair reached by a route-table entry and a private IP, no Elastic IP
##   make demo MODE=zone: the primary's zone goes dark; then an autoshift keeps the address out of a zone
##   make demo MODE=fleet: three pairs declared by tags and a group, one deployment; their zone fails, every address moves
# The bootstrap is built the way `make test` builds it, so that the two share one build.
MODE ?= pair
DEMO_pair := demo.sh
DEMO_group := demo-group.sh
DEMO_asg-ebs := demo-asg-ebs.sh
DEMO_health := demo-health.sh
DEMO_private := demo-private.sh
DEMO_zone := demo-zone.sh
DEMO_fleet := demo-fleet.sh
demo: $(STAMP)
	$(CARGO) build --all-targets
	$(if $(DEMO_$(MODE)),,$(error MODE=$(MODE) is not a demo; choose pair, group, asg-ebs, health, private, zone or fleet))
	VENV=$(VENV) BOOTSTRAP=target/debug/bootstrap bash scripts/$(DEMO_$(MODE))

## drill: the operator's commands (status, pause, resume, switchover) against the local AWS, the way
## `make demo` shows a failover
drill: $(STAMP)
	$(CARGO) build --all-targets
	VENV=$(VENV) BOOTSTRAP=target/debug/bootstrap bash scripts/drill.sh
	$(PY) scripts/decision_lines.py .local/function.log $(addprefix --expect ,status pause paused resume switchover)

## test: formatting, lints, every Rust test (unit, parser, mocks, end to end against the strict
## local AWS: moto behind scripts/ec2_proxy.py; seeded fault injection and races; a bounded parser
## fuzz), the template checks, the emulator's and the IAM checker's own tests, every file in events/
## through the real bootstrap, the three demos; then the IAM check of every request the function
## made in all of them (the proxy records them in target/iam-requests)
IAM_RECORDS := $(abspath target/iam-requests)
# The Python checks (templates, emulator), the Rust tests and the bootstrap's own runs (events/ and
# the demos) run beside each other once everything is built: independent suites, each with servers
# on ports of its own; their output is kept apart (--output-sync).
test: $(STAMP) fmt-check clippy
	rm -rf $(IAM_RECORDS)
	$(CARGO) test --all-targets --no-run
	$(CARGO) build --all-targets
	$(MAKE) -j4 --output-sync=target template-check emulator-check rust-tests local-demos
	$(MAKE) iam-check

rust-tests:
	EC2_PROXY_RECORD_DIR=$(IAM_RECORDS) $(CARGO) test --all-targets

# The bootstrap against the local AWS (every events/ file, then the demos, one after another: they
# share .local/), beside the other suites once everything is built.
local-demos:
	EC2_PROXY_RECORD_DIR=$(IAM_RECORDS) $(MAKE) events-check demo-check

## iam-check: every request the function made in the last `make test` (target/iam-requests) is allowed
## by its deployment's policy, read from the templates as they are now: after a template change, run
## this alone. Fails on a denied request; warns of statements that allowed nothing (scripts/iamcheck)
iam-check: $(STAMP)
	PYTHONPATH=scripts $(PY) -m iamcheck $(IAM_RECORDS)

## demo-check: the three demos, quietly (their output in target/demo-MODE.log)
## and the decision lines the bootstrap wrote in each are valid CloudWatch metrics (EMF) and say
## what the demo did (scripts/decision_lines.py)
DEMOS := pair group asg-ebs health private zone fleet
EXPECT_pair := fail_over finish hold
EXPECT_group := follow
EXPECT_asg-ebs := preserve follow
EXPECT_health := no_change fail_over
EXPECT_private := fail_over status
EXPECT_zone := no_change fail_over finish hold status
EXPECT_fleet := status fail_over follow
demo-check: $(STAMP)
	for m in $(DEMOS); do \
	  $(MAKE) -s demo MODE=$$m >target/demo-$$m.log 2>&1 || { cat target/demo-$$m.log; exit 1; }; \
	  case $$m in pair) e="$(EXPECT_pair)";; group) e="$(EXPECT_group)";; health) e="$(EXPECT_health)";; private) e="$(EXPECT_private)";; zone) e="$(EXPECT_zone)";; fleet) e="$(EXPECT_fleet)";; *) e="$(EXPECT_asg-ebs)";; esac; \
	  $(PY) scripts/decision_lines.py .local/function.log $$(printf -- '--expect %s ' $$e) >>target/demo-$$m.log || exit 1; \
	  echo "demo MODE=$$m: ok (target/demo-$$m.log)"; done

## emulator-check: the strict local EC2 (scripts/ec2_proxy.py) refuses and delays what AWS does, and
## records what it serves; a template deployed into the local AWS (scripts/local_stack.py) is the
## template's; the IAM checker (scripts/iamcheck) denies what IAM denies; the instance's
## boot script (instance/wait-for-data-volume) against a fake metadata service
emulator-check: $(STAMP)
	$(TOOLS) python -m pytest -q tests/test_ec2_proxy.py tests/test_iam_check.py tests/test_wait_for_data_volume.py tests/test_decision_lines.py \
	  tests/test_local_stack.py tests/test_ebs_snapshots.py tests/test_eventbus.py

## bench: cold start against two floors, failover round trips and duration with EC2 50 ms away,
## peak memory, binary size, the same failover in a crowded account, and fleets (MODE=fleet: a
## zone's loss of 100 pairs, reconciles of 10 to 1,000 pairs, EC2's throttling on). Reports, never
## fails on a slow machine; writes target/bench/results.json. Release builds: about 10 minutes the
## first time; the bench itself about 10 more.
##   make bench [BENCH_ARGS="--runs 7 --latency-ms 50 --scale 1000"]
##   make bench BENCH_ARGS="--only-fleet [--fleet-runs 3 --fleet-pairs 100 --fleet-sizes 10,100,1000]"
BENCH_ARGS ?=
bench: $(STAMP)
	$(CARGO) build --release --bin bootstrap
	cp Cargo.lock bench/floors/Cargo.lock
	CARGO_TARGET_DIR=$(abspath target) $(CARGO) build --release --manifest-path bench/floors/Cargo.toml
	$(PY) bench/bench.py --venv $(VENV) $(BENCH_ARGS)

## fuzz: the event-parser fuzzer for longer than `make test` runs it (FUZZ_CASES per property)
FUZZ_CASES ?= 200000
fuzz:
	FUZZ_CASES=$(FUZZ_CASES) $(CARGO) test --test trigger_fuzz -- --nocapture

## template-check: sam validate --lint, cfn-lint (with the project's own rules, .cfnlintrc), checkov,
## the deploy gate (scripts/cfngate: what CloudFormation refuses and the linters pass, over every
## documented parameter set), the wiring tests of the templates, and the tag names of src/tags.rs
## against the templates' IAM conditions
TEMPLATES := template.yaml template-group.yaml template-fleet.yaml template-service-alarm.yaml
template-check: $(STAMP)
	for t in $(TEMPLATES); do $(TOOLS) sam validate --lint -t $$t || exit 1; done
	$(TOOLS) cfn-lint $(TEMPLATES)
	PYTHONPATH=scripts $(PY) -m cfngate
	for t in $(TEMPLATES); do \
	  $(TOOLS) checkov -f $$t --framework cloudformation --skip-download --quiet --compact || exit 1; done
	$(TOOLS) python -m pytest -q tests/test_template.py tests/test_template_group.py tests/test_tags.py tests/test_dashboards.py \
	  tests/test_cfn_gate.py tests/test_release.py tests/test_template_fleet.py

## events-check: the built bootstrap handles every file in events/ behind cargo-lambda, against moto,
## in the mode the file belongs to (scripts/local_aws.py MODES): pair mode against a pair; group
## mode (lifecycle actions, EBS notifications, the schedule) against a stateful group that is
## replacing its instance
# Built with --all-targets so that the bootstrap shares the test build's dependency features
# instead of rebuilding aws-sdk-ec2 without them.
events-check: $(STAMP)
	$(CARGO) build --all-targets
	VENV=$(VENV) bash scripts/invoke.sh $(BOOTSTRAP) events/*.json

## invoke: one event through a built bootstrap (in its mode, as events-check), the local stand-in for
## `sam local invoke -e EVENT`
##   make invoke EVENT=events/alarm-action-cpu-alarm.json [BOOTSTRAP=path/to/bootstrap]
invoke: $(STAMP)
	@if [ "$(BOOTSTRAP)" = target/debug/bootstrap ]; then $(CARGO) build --all-targets; fi
	VENV=$(VENV) ALLOW_ERRORS=1 bash scripts/invoke.sh $(BOOTSTRAP) $(EVENT)

## sam-build: what `sam build` does for a deployment (cargo-lambda, release, cross-compiled with zig)
sam-build: $(STAMP)
	$(TOOLS) sam build --beta-features

## release: what a fleet of accounts and regions deploys with CloudFormation StackSets
## (docs/fleet-deployment.md), in dist/: the function's arm64 zip (cargo-lambda, release, as
## `sam build` builds it: about 10 minutes the first time) and the release templates
## release-templates: only the two templates, template.yaml and template-group.yaml without the SAM
## transform, the code location as two parameters (scripts/release.py); no Rust build
.PHONY: release release-templates
release: $(STAMP) release-templates
	$(TOOLS) $(VENV)/bin/cargo-lambda lambda build --release --arm64 --bin bootstrap --output-format zip
	cp target/lambda/bootstrap/bootstrap.zip dist/bootstrap-arm64.zip
	cd dist && sha256sum bootstrap-arm64.zip template.json template-group.json

release-templates: $(STAMP)
	$(PY) scripts/release.py --out dist

fmt-check:
	$(CARGO) fmt --all -- --check
	$(CARGO) fmt --all --manifest-path bench/floors/Cargo.toml -- --check

clippy:
	$(CARGO) clippy --all-targets -- -D warnings

## venv: the project-local Python tools (moto, cargo-lambda, cfn-lint), pinned in requirements-dev.txt
venv: $(STAMP)

$(STAMP): requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

clean-local:
	rm -rf .local

"""Checks that the tag names the templates' IAM policies and resources use are the ones src/tags.rs
defines. The local emulator enforces no IAM, so a tag renamed in Rust but not in a policy
condition (or the other way round) passes every other test and is denied only on AWS."""

import fnmatch
import json
import pathlib
import re

import pytest
from cfnlint.decode import cfn_yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
TAGS_RS = ROOT / "src" / "tags.rs"
TEMPLATES = ("template.yaml", "template-group.yaml")

CONST = re.compile(r'pub const (\w+): &str = "([^"]+)";')
# `ec2:ResourceTag/<tag>`, `autoscaling:ResourceTag/<tag>`, `aws:ResourceTag/<tag>`,
# `aws:RequestTag/<tag>`. IAM condition keys are case-insensitive; tag keys are not.
TAG_CONDITION = re.compile(r"^[A-Za-z0-9-]+:(?:ResourceTag|RequestTag)/(.+)$", re.IGNORECASE)
NO_VALUE = {"Ref": "AWS::NoValue"}


def rust_constants(text):
    """{NAME: value} of every `pub const NAME: &str = "...";`. Fails when there is none, so no
    check below can pass on an empty list."""
    found = dict(CONST.findall(text))
    assert found, "src/tags.rs defines no `pub const NAME: &str = \"...\";`: did its format change?"
    assert "PREFIX" in found, "src/tags.rs has no PREFIX constant"
    return found


def tag_names(constants):
    """The tag names: every constant but PREFIX (a bare `ec2-failover:` is no tag)."""
    return {value for name, value in constants.items() if name != "PREFIX"}


def load(name):
    # cfn-lint's loader, as tests/test_template*.py use: it reads the short forms (!Ref, !If,
    # !Sub...) as their long forms. A JSON round trip makes plain dicts a test may copy and edit.
    return json.loads(json.dumps(cfn_yaml.load(str(ROOT / name))))


CONSTANTS = rust_constants(TAGS_RS.read_text())
NAMES = tag_names(CONSTANTS)
LOADED = {name: load(name) for name in TEMPLATES}


def ours(tag):
    """A namespaced tag outside AWS's reserved `aws:` namespace is taken to be the function's, so
    a misspelt prefix (`ec2-failovr:group`) is checked too, while `aws:autoscaling:groupName`
    (written by Auto Scaling) and plain user tags such as `Name` are not."""
    return isinstance(tag, str) and ":" in tag and not tag.lower().startswith("aws:")


def alternatives(node):
    """What a node may become once CloudFormation resolves its Fn::If: both branches, recursively,
    without AWS::NoValue."""
    if isinstance(node, dict) and set(node) == {"Fn::If"}:
        _, then, otherwise = node["Fn::If"]
        return alternatives(then) + alternatives(otherwise)
    return [] if node == NO_VALUE else [node]


def as_list(value):
    return value if isinstance(value, list) else [value]


def show(path):
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"\w+", part):
            out += f".{part}"
        else:
            out += f'["{part}"]'
    return out


def walk(node, path=()):
    """Every (path, dict) and (path, list) in the template, Fn::If branches included."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, path + (i,))


def statements(template):
    """Every IAM statement (a dict with an Effect), wherever it sits: SAM Policies, an
    AWS::IAM::Policy or ManagedPolicy, a role's inline policies, inside an Fn::If."""
    for path, node in walk(template):
        if isinstance(node, dict) and "Effect" in node:
            yield path, node


def condition_tags(statement, path, kind=None):
    """(path, tag) for every tag a statement's Condition names: in a `*Tag/<tag>` key (kind
    "key"), or as an `aws:TagKeys` value, maybe a pattern under StringLike (kind "TagKeys")."""
    for condition in alternatives(statement.get("Condition", {})):
        for operator, body in condition.items():
            for block in alternatives(body):
                if not isinstance(block, dict):
                    continue
                for key, value in block.items():
                    at = path + ("Condition", operator, key)
                    match = TAG_CONDITION.match(key)
                    if match and kind in (None, "key"):
                        yield at, match.group(1)
                    elif key.lower() == "aws:tagkeys" and kind in (None, "TagKeys"):
                        for v in alternatives(value):
                            for i, tag in enumerate(as_list(v)):
                                yield at + (i,), tag


def resource_tags(template):
    """(path, key) for every tag key in a `Tags` list ([{Key, Value}]) or map ({key: value}, as
    SAM's Function takes) anywhere in the template."""
    for path, node in walk(template):
        if not (isinstance(node, dict) and "Tags" in node):
            continue
        for tags in alternatives(node["Tags"]):
            if isinstance(tags, list):
                for i, entry in enumerate(tags):
                    for e in alternatives(entry):
                        if isinstance(e, dict) and "Key" in e:
                            yield path + ("Tags", i, "Key"), e["Key"]
            elif isinstance(tags, dict) and not any(k.startswith("Fn::") or k == "Ref" for k in tags):
                for key in tags:
                    yield path + ("Tags", key), key


def known(tag, names):
    # A pattern (`ec2-failover:*`, only meaningful under StringLike) passes when it allows at
    # least one real tag; a pattern that matches none allows nothing the function writes.
    if any(c in tag for c in "*?"):
        return any(fnmatch.fnmatchcase(n, tag) for n in names)
    return tag in names


def unknown_tags(template, names):
    """[(json path, tag)] for every tag of ours an IAM condition or a resource's Tags name that is
    not one of `names` (the tags src/tags.rs defines)."""
    found = []
    for path, statement in statements(template):
        found += [(show(p), t) for p, t in condition_tags(statement, path) if ours(t) and not known(t, names)]
    found += [(show(p), t) for p, t in resource_tags(template) if ours(t) and not known(t, names)]
    return found


# --- src/tags.rs itself --------------------------------------------------------------------------


def test_tags_rs_defines_tags_that_all_start_with_the_prefix():
    prefix = CONSTANTS["PREFIX"]
    assert len(NAMES) >= 2, CONSTANTS
    wrong = {name: value for name, value in CONSTANTS.items() if name != "PREFIX" and not value.startswith(prefix)}
    assert not wrong, f"src/tags.rs: not starting with PREFIX {prefix!r}: {wrong}"
    assert len(set(CONSTANTS.values())) == len(CONSTANTS), "two constants share a value"


# --- template -> Rust: every tag the templates name is a Rust tag --------------------------------


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_tag_the_template_names_is_a_rust_tag(name):
    template = LOADED[name]
    # Not vacuous: each template names at least one of our tags in IAM.
    checked = [t for path, s in statements(template) for _, t in condition_tags(s, path) if ours(t)]
    assert checked, f"{name}: no IAM condition names an ec2-failover tag; is the walker still finding them?"
    bad = unknown_tags(template, NAMES)
    assert not bad, f"{name}: tags not defined in src/tags.rs:\n" + "\n".join(f"  {p}: {t}" for p, t in bad)


# --- Rust -> template, where the template states it ----------------------------------------------


GROUP_TEMPLATE = LOADED["template-group.yaml"]


def writes_restricted_by_tag_keys(template):
    """(path, statement, [tags]) for every statement whose Condition lists aws:TagKeys."""
    for path, s in statements(template):
        keys = [t for _, t in condition_tags(s, path, "TagKeys")]
        if keys:
            yield path, s, keys


def test_every_tag_the_group_role_may_write_on_what_it_did_not_create_is_a_rust_tag():
    # On volumes it did not create, the group role may write only the tags its aws:TagKeys lists
    # (the attached mark); a tag Rust writes there under another name would be denied.
    listed = [(show(p), t) for p, _, keys in writes_restricted_by_tag_keys(GROUP_TEMPLATE) for t in keys]
    assert listed, "template-group.yaml: no statement restricts aws:TagKeys"
    explicit = [(p, t) for p, t in listed if not any(c in t for c in "*?")]
    assert explicit, "template-group.yaml: aws:TagKeys lists no explicit tag"
    missing = [(p, t) for p, t in explicit if t not in NAMES]
    assert not missing, f"aws:TagKeys names tags src/tags.rs does not define: {missing}"
    assert CONSTANTS["ATTACHED"] in {t for _, t in explicit}, "the attached mark Rust writes is not allowed"


def test_the_group_role_scopes_its_tagged_writes_by_the_rust_group_tag():
    # Every write the group role scopes by one of our tags (`ec2:ResourceTag/...`,
    # `autoscaling:ResourceTag/...`, `aws:RequestTag/...`) must name the tag Rust finds the
    # group's resources by: otherwise the role may touch nothing the function looks for.
    group = CONSTANTS["GROUP"]
    scoped = 0
    for path, s in statements(GROUP_TEMPLATE):
        tags = {t for _, t in condition_tags(s, path, "key") if ours(t)}
        if not tags:
            continue
        scoped += 1
        assert group in tags, f"{show(path)} ({s.get('Sid')}) is scoped by {tags}, not by {group}"
    assert scoped >= 3, "template-group.yaml: hardly any write is scoped by an ec2-failover tag"
    # On the group, on the addresses and volumes it reads, and on what it creates.
    keys = {p[-1] for path, s in statements(GROUP_TEMPLATE) for p, t in condition_tags(s, path, "key") if t == group}
    assert {f"ec2:ResourceTag/{group}", f"autoscaling:ResourceTag/{group}", f"aws:RequestTag/{group}"} <= keys, keys


def tags_of(resource):
    return {t for _, t in resource_tags(resource)}


@pytest.mark.parametrize("kind, wanted", [
    ("AWS::AutoScaling::AutoScalingGroup", ["GROUP"]),
    ("AWS::EC2::EIP", ["GROUP"]),
    ("AWS::EC2::Volume", ["GROUP", "DEVICE"]),
])
def test_what_the_group_template_creates_carries_the_rust_tags_the_function_reads(kind, wanted):
    # The function finds the group, its address and its seed volume by these tags.
    found = {n: r for n, r in GROUP_TEMPLATE["Resources"].items() if r["Type"] == kind}
    assert found, f"template-group.yaml creates no {kind}"
    for name, resource in found.items():
        for const in wanted:
            assert CONSTANTS[const] in tags_of(resource), f"{name} lacks the {CONSTANTS[const]} tag ({const})"


def pair_tags(text):
    """The constants tags.rs documents as `/// Pair mode: ...`: the ones pair mode writes."""
    return [value for doc, value in re.findall(r'((?:///[^\n]*\n)+)pub const \w+: &str = "([^"]+)";', text)
            if "Pair mode:" in doc]


def test_the_pair_role_may_write_every_pair_tag():
    # The pair role's CreateTags on the Elastic IP is limited by aws:TagKeys patterns: each tag
    # pair mode records must match one of them.
    wanted = pair_tags(TAGS_RS.read_text())
    assert wanted, "src/tags.rs marks no constant `Pair mode:`"
    patterns = [t for _, _, keys in writes_restricted_by_tag_keys(LOADED["template.yaml"]) for t in keys]
    assert patterns, "template.yaml: CreateTags is not limited by aws:TagKeys"
    missing = [t for t in wanted if not any(fnmatch.fnmatchcase(t, p) for p in patterns)]
    assert not missing, f"pair tags template.yaml's aws:TagKeys {patterns} does not allow: {missing}"


# --- the checker can fail ------------------------------------------------------------------------


def misspell(template, old, new):
    """A copy of the template with every occurrence of `old` in a dict key or string replaced."""
    return json.loads(json.dumps(template).replace(old, new))


def test_the_checker_reports_a_misspelt_tag_in_a_condition_inside_fn_if():
    copy = json.loads(json.dumps(GROUP_TEMPLATE))
    # The data policy is the second of the function's policies, behind Fn::If KeepsData.
    policy = copy["Resources"]["FollowFunction"]["Properties"]["Policies"][1]["Fn::If"][1]
    [delete] = [s for s in policy["Statement"] if s.get("Sid") == "DeleteOnlyItsOwnUnusedCopies"]
    null = delete["Condition"]["Null"]
    null["ec2:ResourceTag/ec2-failover:grup"] = null.pop("ec2:ResourceTag/ec2-failover:group")
    bad = unknown_tags(copy, NAMES)
    assert len(bad) == 1, bad
    [(path, tag)] = bad
    assert tag == "ec2-failover:grup"
    assert path.startswith('$.Resources.FollowFunction.Properties.Policies[1]["Fn::If"][1].Statement['), path
    assert path.endswith('.Condition.Null["ec2:ResourceTag/ec2-failover:grup"]'), path


@pytest.mark.parametrize("old, new", [
    ("ec2-failover:attached", "ec2-failover:atached"),      # an aws:TagKeys value
    ("ec2-failover:device", "ec2-failover:devices"),        # a resource's Tags key
    ("ec2:ResourceTag/ec2-failover:snapshot", "ec2:ResourceTag/ec2-failovr:snapshot"),  # the prefix
])
def test_the_checker_reports_each_kind_of_misspelling(old, new):
    bad = unknown_tags(misspell(GROUP_TEMPLATE, old, new), NAMES)
    assert bad and all(t == new.split("/")[-1] for _, t in bad), bad


def test_the_checker_reports_a_wildcard_no_rust_tag_matches():
    bad = unknown_tags(misspell(LOADED["template.yaml"], '"ec2-failover:*"', '"ec2-failovr:*"'), NAMES)
    # Each statement that writes the record's tags (on the Elastic IP, on the first route table).
    assert bad and {t for _, t in bad} == {"ec2-failovr:*"}, bad


def test_the_checker_fails_when_tags_rs_loses_the_group_constant():
    text = TAGS_RS.read_text()
    without = re.sub(r'pub const GROUP: &str = "[^"]+";\n', "", text)
    assert without != text, "the GROUP line was not found to remove"
    names = tag_names(rust_constants(without))
    bad = unknown_tags(GROUP_TEMPLATE, names)
    assert bad and {t for _, t in bad} == {CONSTANTS["GROUP"]}, bad
    assert any("ElasticIp" in p for p, _ in bad) and any("ResourceTag" in p for p, _ in bad), bad


def test_the_checker_refuses_a_tags_rs_without_constants():
    with pytest.raises(AssertionError, match="defines no"):
        rust_constants("//! nothing here\n")

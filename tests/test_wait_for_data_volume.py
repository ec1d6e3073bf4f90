"""instance/wait-for-data-volume against a fake instance metadata service and a fake /dev: it waits
for the volume the function attached (named by the instance's tags), never for the root volume."""

import os
import pathlib
import stat
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parent.parent / "instance" / "wait-for-data-volume"
ROOT_VOLUME = "vol-0aaaaaaaaaaaaaaaa"
DATA_VOLUME = "vol-0123456789abcdef0"


class Imds:
    """IMDSv2 with instance tags: PUT /latest/api/token, then GETs with the token."""

    def __init__(self, tags, tags_allowed=True):
        self.tags, self.tags_allowed = tags, tags_allowed
        imds = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self, status, body=b""):
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_PUT(self):
                if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                    return self.answer(200, b"token-1")
                return self.answer(400)

            def do_GET(self):
                if self.headers.get("X-aws-ec2-metadata-token") != "token-1":
                    return self.answer(401)
                prefix = "/latest/meta-data/tags/instance"
                if not imds.tags_allowed or not self.path.startswith(prefix):
                    return self.answer(404)
                key = self.path[len(prefix):].lstrip("/")
                if not key:
                    return self.answer(200, "\n".join(imds.tags).encode())
                if key in imds.tags:
                    return self.answer(200, imds.tags[key].encode())
                return self.answer(404)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()


@pytest.fixture
def dev(tmp_path):
    """A /dev with a Nitro root volume: its by-id link exists from the start."""
    (tmp_path / "disk" / "by-id").mkdir(parents=True)
    (tmp_path / "nvme0n1").write_text("")
    link(tmp_path, ROOT_VOLUME, "nvme0n1")
    return tmp_path


def link(dev, volume, target):
    (dev / "disk" / "by-id" / f"nvme-Amazon_Elastic_Block_Store_{volume.replace('-', '')}").symlink_to(dev / target)


def run(imds, dev, wait=5):
    env = dict(os.environ, IMDS_ENDPOINT=imds.endpoint, DEV_DIR=str(dev), WAIT_SECONDS=str(wait), POLL_SECONDS="0.1")
    started = time.monotonic()
    done = subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=wait + 20)
    return done, time.monotonic() - started


def test_it_waits_for_the_data_volume_and_not_the_root_volume(dev):
    imds = Imds({"ec2-failover:data-volume": DATA_VOLUME, "ec2-failover:data-device": "/dev/xvdf"})
    try:
        # The volume shows up a second after the script starts, as after an attach.
        def attach():
            time.sleep(1.0)
            (dev / "nvme1n1").write_text("")
            link(dev, DATA_VOLUME, "nvme1n1")

        threading.Thread(target=attach).start()
        done, took = run(imds, dev)
    finally:
        imds.close()
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(dev / "nvme1n1")
    assert took >= 0.9, "it returned before the data volume was attached"


def test_the_root_volume_alone_never_satisfies_it(dev):
    imds = Imds({"ec2-failover:data-volume": DATA_VOLUME, "ec2-failover:data-device": "/dev/xvdf"})
    try:
        done, _ = run(imds, dev, wait=1)
    finally:
        imds.close()
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout == ""
    assert DATA_VOLUME in done.stderr


def test_it_waits_for_the_tag_before_the_volume(dev):
    tags = {}
    imds = Imds(tags)
    try:
        def function_tags_then_attaches():
            time.sleep(0.5)
            tags["ec2-failover:data-volume"] = DATA_VOLUME
            tags["ec2-failover:data-device"] = "/dev/xvdf"
            time.sleep(0.5)
            (dev / "nvme1n1").write_text("")
            link(dev, DATA_VOLUME, "nvme1n1")

        threading.Thread(target=function_tags_then_attaches).start()
        done, _ = run(imds, dev)
    finally:
        imds.close()
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(dev / "nvme1n1")


def block_device(path):
    """Makes path a block device: a device node as root, else a link to one of the machine's."""
    try:
        os.mknod(path, 0o600 | stat.S_IFBLK, os.makedev(7, 200))
        return
    except PermissionError:
        pass
    for candidate in sorted(pathlib.Path("/dev").iterdir()):
        if candidate.is_block_device():
            os.symlink(candidate, path)
            return
    pytest.fail("cannot make a block device here (not root, and /dev has none)")


def test_a_xen_instance_sees_the_device_name_as_xvd(tmp_path):
    dev = tmp_path
    (dev / "disk" / "by-id").mkdir(parents=True)
    imds = Imds({"ec2-failover:data-volume": DATA_VOLUME, "ec2-failover:data-device": "/dev/sdf"})
    try:
        # Neither a regular file nor a character device is taken for the volume.
        (dev / "xvdf").write_text("")
        done, _ = run(imds, dev, wait=1)
        assert done.returncode == 1, "a file that is not a block device was taken for the volume"
        os.remove(dev / "xvdf")
        os.symlink("/dev/null", dev / "xvdf")
        done, _ = run(imds, dev, wait=1)
        assert done.returncode == 1, "a character device was taken for the volume"
        os.remove(dev / "xvdf")
        # /dev/sdf, as the kernel of a Xen instance names it.
        block_device(dev / "xvdf")
        done, _ = run(imds, dev)
    finally:
        imds.close()
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(dev / "xvdf")


def test_metadata_without_tags_is_waited_out_and_said_once(dev):
    # The launch template leaves tags out of the metadata: the function turns them on
    # (ModifyInstanceMetadataOptions) and then tags the instance, while the script waits.
    imds = Imds({}, tags_allowed=False)
    try:
        def function_arrives():
            time.sleep(1.0)
            imds.tags.update({"ec2-failover:data-volume": DATA_VOLUME, "ec2-failover:data-device": "/dev/xvdf"})
            imds.tags_allowed = True
            time.sleep(0.5)
            (dev / "nvme1n1").write_text("")
            link(dev, DATA_VOLUME, "nvme1n1")

        threading.Thread(target=function_arrives).start()
        done, took = run(imds, dev, wait=10)
    finally:
        imds.close()
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(dev / "nvme1n1")
    assert done.stderr.count("InstanceMetadataTags") == 1, done.stderr
    assert took >= 1.0


def test_metadata_that_never_gets_tags_times_out(dev):
    imds = Imds({}, tags_allowed=False)
    try:
        done, _ = run(imds, dev, wait=2)
    finally:
        imds.close()
    assert done.returncode == 1
    assert done.stderr.count("InstanceMetadataTags") == 1, done.stderr

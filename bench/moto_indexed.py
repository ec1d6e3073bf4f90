"""moto_server for the bench's fleet rows, with one change that makes no answer different: an EC2
resource's tags are looked up by its id.

moto 5.2.5 finds a resource's tags (TaggedEC2Resource.get_tags) by scanning every tag of the account
with a resource-id pattern, for each resource it describes or filters: quadratic in the account's
size. A DescribeInstances of 2,000 tagged instances then takes moto about 9 s (5 s of it in that
scan), past the function's 20 s operation timeout once three such reads run at once, which AWS
does not show. The tag store is a dict by resource id; looking the id up there gives the same list
(an id has no wildcard, and moto's pattern is anchored at both ends).

  python bench/moto_indexed.py -H 127.0.0.1 -p PORT      (moto_server's arguments)
"""

import sys

from moto.ec2.models.core import TaggedEC2Resource
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix
from moto.server import main


def get_tags(self):
    if not self.id:
        return []
    tags = self.ec2_backend.tags.get(self.id, {})  # .get: the store is a defaultdict
    kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(self.id), "")
    return [{"resource_id": self.id, "key": key, "value": value, "resource_type": kind} for key, value in tags.items()]


TaggedEC2Resource.get_tags = get_tags

if __name__ == "__main__":
    main(sys.argv[1:])

"""`python -m localaws --upstream URL --port PORT [--record DIR]` (PYTHONPATH=scripts): the strict
local AWS in front of moto, as scripts/ec2_proxy.py runs it."""

from .server import main

if __name__ == "__main__":
    main()

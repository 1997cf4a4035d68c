"""What tests, bench/ and the demo share: league builders, the worker harness, private servers.

Test modules import from here and from `stats`, never from each other.
"""

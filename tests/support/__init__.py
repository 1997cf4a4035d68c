"""What the tests share: league builders, job helpers, processes on the test database, a private
server for outages. The worker harness itself is `stats.processes`, since `manage.py demo` and
bench/ start workers too.

Test modules import from here and from `stats`, never from each other.
"""

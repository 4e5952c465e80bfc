"""The HTCondor side: the pool protocol and records, the real htcondor2 adapter, ClassAd reading, and
which pools the groups use (the simulated pool is include/simulated, the poller include/loop).

Importing this package (or any module in it) never imports ``htcondor2``/``classad2``: DAG files import it
at parse time, and only the functions that talk to a pool load the bindings. See README.md.
"""

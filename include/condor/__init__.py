"""The HTCondor side: the pool protocol, the real htcondor2 adapter, the simulated pool, and the poller.

Importing this package (or any module in it) never imports ``htcondor2``/``classad2``: DAG files import it
at parse time, and only the functions that talk to a pool load the bindings. See README.md.
"""

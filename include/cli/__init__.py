"""The ``cloudscheduler`` command line: configuration, database, and (later) operator actions."""

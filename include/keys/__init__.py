"""Key distribution to clouds (F7): the keys x clouds matrix made true on each cloud."""

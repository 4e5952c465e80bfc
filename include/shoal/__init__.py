"""Shoal: squid-cache discovery (agents advertise caches, the server checks them, clients ask for the nearest)."""

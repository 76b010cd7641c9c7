"""Scheduling: the long-running service that watches the digests folder and wires every stage."""

"""Opt-out and compliance: the STOP lists (global, per network, per account) kept in LMDB, reply
keywords, quiet hours and sender rules. Built by the compliance issue; empty until then."""

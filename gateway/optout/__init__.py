"""Opt-out and compliance: the STOP lists (global, per network, per account) and reply keywords.

* :mod:`gateway.optout.keywords` (pure): is a reply a STOP or START request.
* :mod:`gateway.optout.store` (LMDB): the exclusion list itself.

Only the pure keyword API is re-exported here, so that importing ``gateway.optout`` never loads
lmdb: the pure layers may use keywords, and only storage users import ``gateway.optout.store``.
"""

from gateway.optout.keywords import KeywordMatcher, fold, match_start, match_stop

__all__ = ["KeywordMatcher", "fold", "match_start", "match_stop"]

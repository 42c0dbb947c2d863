"""SIP: the only package that imports pjsua2 (worker processes, pool, bridge, sandbox)."""

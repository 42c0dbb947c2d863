"""Live calls: the status machine, the ports a call needs, the session that drives one call,
the dispatcher that takes queued calls to SIP, and the Calls resource's operations."""

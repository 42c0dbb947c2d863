"""Several engines on one database: membership (heartbeats, dead nodes, fencing), the forwarding
of a call's API requests to the engine that holds it, and Kamailio's dispatcher list."""

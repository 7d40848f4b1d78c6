"""The Registry HTTP API v2 (an adapter): credentials, one client per host, the push target, OCI referrers,
and the local registry that push and release default to. Uses the core and the engine, no stage."""

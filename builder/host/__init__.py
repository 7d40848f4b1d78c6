"""This host (an adapter): the NVIDIA driver and GPU runtime, base images made with debootstrap, the disk,
and the preflight that checks them with the registry before a release. Uses the core, the engine and the registry."""

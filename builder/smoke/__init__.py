"""Stage 5, smoke: Image -> SmokeReport: the in-image suite and the service probes, and the verdict kept for a
later push."""

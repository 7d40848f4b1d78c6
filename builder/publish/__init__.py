"""Stage 6, publish: a tested Image -> PushResult: every tag pushed and verified, dated tags immutable, the SBOM
and provenance attached beside the digest."""

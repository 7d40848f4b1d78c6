"""Stage 4, build: BuildContext -> Image through the engine, sealed with its SBOM and provenance."""

"""Stage 7, release: the pipeline (skip or build, test, push, record), release.json and TAGS.md, diffs."""

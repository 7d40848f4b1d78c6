"""Stage 3, render: Variant + Lock -> BuildContext (Dockerfile and files, from Jinja templates; pure and
deterministic), one writer per kind of image; the inputs digest of a context."""

"""Stage 1, matrix: read matrix.yaml at the input boundary (hostile YAML, names, paths), validate it, expand it
into Variants, select them, add the team images declared for them."""

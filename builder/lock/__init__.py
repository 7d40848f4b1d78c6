"""Stage 2, lock: a variant's whole Python package set with hashes (`locks/<variant id>.txt`), resolved with uv;
the wheelhouse that carries those wheels to offline builds."""

"""The command line: one module per command group; parses options into typed values, calls one stage function,
prints through the output channel. Uses everything; nothing uses it."""

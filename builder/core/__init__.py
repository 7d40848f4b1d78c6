"""What every stage shares: errors and exit codes, the output channel, paths, the Variant and its kinds,
tags and labels, image and registry references (parsed here, once). Imports nothing else of imgbuild."""

"""The Docker engine (an adapter): the only package that imports `docker`. The rest sees plain values
(ImageInfo, RunResult, Container) and the core's errors."""

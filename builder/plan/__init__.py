"""The nightly's plan (after lock in the flow, before render): the selected Variants and their lock state -> the
GitHub Actions jobs that release them (runners, chunks of at most 256, the join jobs), written as a strategy.matrix
by one writer. Nothing in it builds: each job runs `release`."""

"""Batch jobs: states, the job store, workers that claim, run, checkpoint and finish jobs, and estimates."""

"""Populate: ``make`` per missing key, the job table and worker processes."""

"""Partitions, jobs, schedules and sensors: how runs get started."""

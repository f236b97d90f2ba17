"""Runs the BrickFlow workflow on this machine: the same tasks, dependencies and settings."""

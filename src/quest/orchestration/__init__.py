"""Orchestration: the workflows' per-environment settings, the Python task bodies, the notebook
parameter plumbing and the offline bundle synthesis. The DAG itself lives in `workflows/`."""

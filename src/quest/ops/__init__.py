"""Operating quest: the run history, the answer and quarantine snapshots, alerts, the dashboard.

Everything here reads what the pipeline already produced (task summaries, silver, gold) and writes
only to the `ops` schema; no rule of the pipeline lives here.
"""

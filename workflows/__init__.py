"""BrickFlow workflows of quest: `quest_pipeline` (daily) and `quest_reports` (on new data)."""

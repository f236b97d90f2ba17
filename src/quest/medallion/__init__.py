"""The medallion on Delta: bronze (raw copies), silver (typed, checked), gold (views)."""

from quest.medallion.bronze import load_bronze
from quest.medallion.gold import create_gold_views
from quest.medallion.silver import load_silver

__all__ = ["load_bronze", "load_silver", "create_gold_views"]

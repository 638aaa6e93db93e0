"""Pipelines of investment-signals, declared as data (see pipelines.core.model)."""

"""The marketer's tools: campaign statistics, the campaign report, the quota planner, capacity routing and
the qualification-rule check.

May import datasets, models and features; serving reads its campaign statistics.
"""

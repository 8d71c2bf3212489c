"""Batch scoring: lead files on one machine (`batch`) and partitioned Parquet on a Dask cluster
(`distributed`).

May import datasets, models and features.
"""

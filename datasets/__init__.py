"""Lead tables at the edge: reading CSV/Parquet files and the config file, partitioned Parquet on a Dask
cluster, and the synthetic demo funnel.

May import features only.
"""

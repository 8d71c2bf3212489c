"""Lead tables on a Dask cluster: connecting to the scheduler and reading partitioned Parquet.

Shared by distributed training (`training.distributed`) and distributed scoring (`scoring.distributed`).
"""

from __future__ import annotations

from typing import Any

import dask.dataframe as dd
from distributed import Client

from leadscore.datasets.files import parquet_errors

CONNECT_TIMEOUT = "20s"


class ClusterError(ConnectionError):
    """The Dask scheduler cannot be reached; the message names the address."""


def connect(scheduler_address: str) -> Client:
    """A client of the cluster, or a `ClusterError` saying which address did not answer."""
    try:
        return Client(scheduler_address, timeout=CONNECT_TIMEOUT, set_as_default=True)
    except (OSError, ValueError) as err:
        raise ClusterError(f"cannot reach the Dask scheduler at {scheduler_address!r}: {err}") from None


def read_leads(data_dir: str, storage_options: dict[str, Any] | None = None) -> dd.DataFrame:
    """Partitioned Parquet as a Dask DataFrame; a clear error when it cannot be read."""
    with parquet_errors(data_dir, "partitioned Parquet", detail=True):
        return dd.read_parquet(data_dir, storage_options=storage_options)

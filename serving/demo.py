"""Fill a running service's review queue with demo leads: `python -m serving.demo --url URL --data demo/leads.csv`.

Waits for the service, reads the first `--n` leads of a lead table, sends the model's columns plus the fields
the qualification rules read (as listed by `GET /model`) to `POST /score`, and prints the review page URL.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import httpx
import pandas as pd

from leadscore import settings
from leadscore.serving.local import request_leads, wait_ready

BATCH = 500


def post_demo_leads(url: str, data: Path, n: int, token: str | None) -> int:
    """Score the first `n` leads of `data` through the service; returns how many were scored."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        info = client.get("/model").raise_for_status().json()
        wanted = [info["id_column"], *(f["name"] for f in info["features"]), *info["rule_fields"]]
        frame = pd.read_csv(data, nrows=n)
        leads = request_leads(frame[[c for c in wanted if c in frame.columns]], info["id_column"])
        for start in range(0, len(leads), BATCH):
            client.post("/score", json={"leads": leads[start : start + BATCH]}).raise_for_status()
    return len(leads)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:3000")
    parser.add_argument("--data", type=Path, default=Path("demo/leads.csv"))
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--timeout", type=float, default=180)
    args = parser.parse_args(argv)
    try:
        wait_ready(args.url, args.timeout)
        scored = post_demo_leads(args.url, args.data, args.n, settings.api_token())
    except (TimeoutError, OSError, httpx.HTTPError) as err:
        print(f"demo leads not sent: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(f"{scored} demo leads scored; review page: {args.url}/ui/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

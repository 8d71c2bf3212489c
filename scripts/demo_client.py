"""Fill a running service's review queue with demo leads (`make run`): `python scripts/demo_client.py --url URL
--data demo/leads.csv`. Not part of the package: a client of the service, like the CRM.

Waits for the service, reads the first `--n` leads of a lead table, sends the model's columns plus the fields
the qualification rules read and the account (as listed by `GET /model`) to `POST /score`, and prints the
review page URL. With `--responses`, it then replays those leads' responses through `POST /responses` as if
they were happening now (each lead's history moved so that it was created `REPLAY_DAYS` days ago), so their
scores move, some become newly sales-ready, and accounts show engaged people.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import httpx
import pandas as pd
from local_service import request_leads, wait_ready

from leadscore import settings

BATCH = 500


def post_demo_leads(url: str, data: Path, n: int, token: str | None) -> int:
    """Score the first `n` leads of `data` through the service; returns how many were scored."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        info = client.get("/model").raise_for_status().json()
        wanted = [info["id_column"], *(f["name"] for f in info["features"]), *info["rule_fields"]]
        wanted += [info["account_column"]] if info.get("account_column") else []
        frame = pd.read_csv(data, nrows=n)
        leads = request_leads(frame[[c for c in wanted if c in frame.columns]], info["id_column"])
        for start in range(0, len(leads), BATCH):
            client.post("/score", json={"leads": leads[start : start + BATCH]}).raise_for_status()
    return len(leads)


REPLAY_DAYS = 10.0


def post_demo_responses(
    url: str, data: Path, responses: Path, n: int, token: str | None, limit: int = 150
) -> dict[str, object]:
    """Replay the responses of the first `limit` of the `n` posted leads, moved so that each lead was created
    `REPLAY_DAYS` before today; returns the counts (`posted`, `newly_sales_ready`) and an example account and
    lead. Idempotent within a day (same event ids and times); on a later day the events are already stored."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    leads = pd.read_csv(data, nrows=min(n, limit))
    events = pd.read_csv(responses)
    events = events[events["lead_id"].isin(set(leads["lead_id"]))].copy()
    created = pd.to_datetime(events["lead_id"].map(leads.set_index("lead_id")["created_at"]), utc=True)
    now = pd.Timestamp.now(tz="UTC")
    anchor = now.floor("D") - pd.Timedelta(days=REPLAY_DAYS)  # same times all day: a re-run stores nothing twice
    moved = pd.to_datetime(events["responded_at"], utc=True) - created + anchor
    events = events.assign(occurred_at=moved)[moved < now].sort_values("occurred_at", kind="stable")
    account = leads.set_index("lead_id")["account"] if "account" in leads else None
    newly: list[str] = []
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        for row in events.itertuples():
            body = {
                "event_id": f"demo-{row.event_id}",
                "lead_id": row.lead_id,
                "occurred_at": row.occurred_at.isoformat(),
                "campaign": row.campaign,
                "response_type": row.response_type,
                "channel": row.channel,
            }
            reply = client.post("/responses", json=body)
            if reply.status_code == 409:  # replayed on an earlier day, at other times: already stored
                continue
            answer = reply.raise_for_status().json()
            if answer["newly_sales_ready"]:
                newly.append(row.lead_id)
    responders = list(dict.fromkeys(newly + events["lead_id"].tolist()[::-1]))
    example, example_account = (responders[0] if responders else None), None
    if account is not None and responders:  # the account with the most people among those replayed
        sizes = account.value_counts()
        example = max(responders, key=lambda lead: (sizes[account[lead]], lead in newly))
        example_account = str(account[example])
    return {"posted": len(events), "newly_sales_ready": len(newly), "lead": example, "account": example_account}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:3000")
    parser.add_argument("--data", type=Path, default=Path("demo/leads.csv"))
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--timeout", type=float, default=180)
    parser.add_argument("--responses", type=Path, default=None, help="responses.csv to replay (optional)")
    args = parser.parse_args(argv)
    try:
        wait_ready(args.url, args.timeout)
        scored = post_demo_leads(args.url, args.data, args.n, settings.api_token())
        print(f"{scored} demo leads scored; review page: {args.url}/ui/")
        if args.responses is not None:
            replay = post_demo_responses(args.url, args.data, args.responses, args.n, settings.api_token())
            print(
                f"{replay['posted']} responses replayed through POST /responses (as if now); "
                f"{replay['newly_sales_ready']} leads became newly sales-ready"
            )
            if replay["account"]:
                print(f"an account to look at: {args.url}/ui/accounts/{replay['account']} "
                      f"(JSON: {args.url}/accounts/{replay['account']})")  # fmt: skip
            print(f"multi-touch campaign credit: {args.url}/campaigns")
    except (TimeoutError, OSError, httpx.HTTPError) as err:
        print(f"demo not sent: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

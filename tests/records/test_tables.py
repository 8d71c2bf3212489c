"""The service's database is defined once: training, monitoring and the service agree on what it holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from leadscore.records.database import Database
from leadscore.records.feedback import FeedbackStore
from leadscore.records.migrate import migrate
from leadscore.records.tables import FeedbackEvent, StoreReadError, count_unscored_feedback, read_latest_decisions


def _event(n: int, lead: str, decision: str, received_at: datetime, scored: bool | None = True) -> FeedbackEvent:
    return FeedbackEvent(
        model_name="m",
        event_id=f"e{n}",
        lead_id=lead,
        decision=decision,
        rep_id="rep",
        received_at=received_at,
        lead_scored=scored,
    )


def test_training_reads_the_latest_decision_the_service_shows(tmp_path: Path) -> None:
    """A clock that stepped back between two decisions (NTP, a moved VM) must not make training learn the
    older one while the review page shows the newer."""
    url = f"sqlite:///{tmp_path / 'fb.db'}"
    engine = create_engine(url)
    migrate(engine, None)
    now = datetime.now(UTC)
    with Session(engine) as session:
        session.add_all(
            [
                _event(1, "L1", "accept", now),
                _event(2, "L1", "reject", now - timedelta(minutes=5)),  # stored later, stamped earlier
                _event(3, "L2", "accept", now, scored=False),
            ]
        )
        session.commit()
    served = {d.lead_id: d.decision for d in FeedbackStore(Database(url, "m")).latest_decisions()}
    trained = read_latest_decisions(url, "m")
    assert served == {"L1": "reject", "L2": "accept"}
    assert dict(zip(trained["lead_id"], trained["decision"], strict=True)) == served
    assert str(trained["received_at"].dt.tz) == "UTC"
    assert count_unscored_feedback(url, "m") == 1


def test_a_database_that_is_not_there_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreReadError, match=r"cannot read feedback from .*: OperationalError"):
        read_latest_decisions(f"sqlite:///{tmp_path / 'no-such-folder' / 'fb.db'}", "m")

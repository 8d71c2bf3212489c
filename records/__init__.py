"""The service's database, defined once: the tables of scored leads, sales decisions, response events and lead
accounts (every row names its model: several models may share one database), their migrations (Alembic,
`migrate`), what "a lead's latest decision" means, and every read and write of them: `database` (engine,
locks, a deleted SQLite file), `events` (client events stored once per `event_id`), `scored`, `feedback` and
`responses` (one store each).

The service writes these tables through the stores; training (labels from feedback) and monitoring (traffic,
live calibration) read them through `tables` rather than by table names of their own. May import SQLAlchemy,
Alembic and pandas (with numpy), nothing of leadscore's.
"""

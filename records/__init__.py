"""The service's database, defined once: the tables of scored leads, sales decisions, response events and lead
accounts (every row names its model: several models may share one database), their migrations (Alembic,
`migrate`), and what "a lead's latest decision" means.

The service writes these tables; training (labels from feedback) and monitoring (traffic, live calibration)
read them through this package rather than by table names of their own. May import SQLAlchemy and pandas,
nothing of leadscore's.
"""

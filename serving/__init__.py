"""The BentoML scoring service the CRM calls (`leadscore.serving.service:LeadScoringService`).

May import marketing (campaign statistics), records (its database tables), models, features and settings;
never training, datasets or the CLI.

Importing the package sets environment defaults (`leadscore.settings.apply_defaults`) before BentoML or
MLflow read them: no usage tracking or telemetry leaves the machine (leads are customer data), no download
progress bars in server logs, and BentoML keeps its state in the project's gitignored local-state directory
instead of `~/bentoml`. Explicit settings always win.
"""

from leadscore import settings

settings.apply_defaults(bentoml_home=True)

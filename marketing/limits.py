"""Thresholds of the campaign verdicts that command-line options show as defaults: light (no pandas), so
`leadscore --help` stays fast."""

MIN_WINS = 10
"""Wins (acceptances, on the acceptance basis) a campaign needs for a verdict, besides `min_leads` closed leads."""
TOO_FEW = "too few to judge"
"""Verdict of a campaign with fewer than `min_leads` closed leads or `min_wins` wins (acceptances)."""

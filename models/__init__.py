"""The fitted model: `LeadScorer` (transformer plus LightGBM heads), its artifact on disk, registry lookup,
reasons in plain words and the drift reference.

May import features only.
"""

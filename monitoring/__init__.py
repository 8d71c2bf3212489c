"""Operations monitoring: drift and live calibration of the champion from what the service recorded.

May import records (the scoring traffic and decisions the service stored), training, datasets, models and
features.
"""

"""Operations monitoring: drift and live calibration of the champion from what the service recorded.

May import training (the feedback join), datasets, models and features.
"""

"""Making a model: split, fit and evaluate (`fit`), the leak check, quality and champion gates, MLflow
tracking and promotion (`pipeline`, `tracking`), the feedback join for retraining, distributed training.

May import datasets, records (the service database, read for labels from feedback), models and features;
never serving or the CLI.
"""

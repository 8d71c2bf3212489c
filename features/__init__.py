"""The data contract (`leadscore.toml`) and the transformers shared by training and serving.

The bottom layer: pure (no I/O, no MLflow/BentoML/LightGBM); imports no other leadscore package.
"""

"""The data contract and the transformers shared by training and serving (pure: no I/O)."""

"""lmms-eval glue: task registration, the attribution task base class, HF model adapters."""

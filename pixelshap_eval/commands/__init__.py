"""Subcommands of `pixelshap-eval`, one module each (see `pixelshap_eval.cli`)."""

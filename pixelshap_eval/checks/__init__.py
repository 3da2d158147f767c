"""Release checks: thresholds, paired regressions against a baseline run, the model
randomisation sanity check and shortcut gates, with exit codes a pipeline can act on."""

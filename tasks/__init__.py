"""lmms-eval task YAMLs of pixelshap_eval (shipped inside the wheel as `pixelshap_eval.tasks`)."""

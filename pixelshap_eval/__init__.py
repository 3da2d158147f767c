"""pixelshap_eval: where does a vision-language model look when it answers?

Players (image regions) -> planned coalitions -> masked images -> model answers -> values ->
Shapley estimates with standard errors -> metrics, as a library and as lmms-eval tasks.
"""

__version__ = "0.1.0"

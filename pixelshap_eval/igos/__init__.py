"""iGOS+ / iGOS++ for vision-language models: white-box heatmaps by mask optimisation.

`explain_igos` runs one explanation (`IgosExplanation`); `IgosConfig` holds its settings;
`DocumentSkipped` is raised when the answer has no visually relevant token.
"""

from pixelshap_eval.igos.config import IgosConfig
from pixelshap_eval.igos.explain import IgosExplanation, explain_igos
from pixelshap_eval.igos.tokens import DocumentSkipped

__all__ = ["DocumentSkipped", "IgosConfig", "IgosExplanation", "explain_igos"]

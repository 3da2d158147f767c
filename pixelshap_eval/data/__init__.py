"""Dataset builders (COCO object importance, human attention, synthetic scenes) and their shared schema."""

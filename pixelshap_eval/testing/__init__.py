"""Test instruments: tiny randomly initialised vision-language models built offline from configs."""

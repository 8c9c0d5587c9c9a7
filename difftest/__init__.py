"""Differential testing: the same weights and prompts through several engines and configurations."""

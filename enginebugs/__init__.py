"""enginebugs: study bugs in LLM inference engines and find new ones by differential testing."""
__version__ = "0.1.0"

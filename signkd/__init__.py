"""signkd: continuous sign language recognition and translation with multimodal knowledge distillation."""
__version__ = "0.1.0"

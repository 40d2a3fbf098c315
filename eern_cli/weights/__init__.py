"""Checkpoints: the known ones as data, loading and verification before unpickling, and the Hugging Face Hub."""

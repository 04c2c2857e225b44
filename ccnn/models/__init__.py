"""LightningModules (filled by later issues)."""

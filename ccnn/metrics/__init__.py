"""torchmetrics metrics (filled by later issues)."""

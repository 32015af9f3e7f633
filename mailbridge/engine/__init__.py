"""The ticket engine: decisions on parsed mail, in transactions the caller owns."""

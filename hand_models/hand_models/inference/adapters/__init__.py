"""ExportSpec adapters for networks that live elsewhere in hand_models (registered lazily in ``registry``)."""

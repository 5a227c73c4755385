"""Action recognition on F-PHAB (official 1:1 split): data, training, evaluation, export."""

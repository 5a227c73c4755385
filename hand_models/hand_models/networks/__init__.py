"""Learned networks of hand_perception (torch ``nn.Module`` only; training lives in ``hand_training``)."""

"""ROS-free core of hand_perception: numpy in, dataclasses out (see ``types``)."""

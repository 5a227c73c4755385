"""Replay and evaluation without ROS: read rosbag2 / video / image folders, run the same core as
the nodes on every frame, write a rosbag2 mcap with the node outputs, and score the results.

``readers`` (frame sources), ``writer`` (output bags), ``evaluate`` (metrics), ``report``
(plots + metrics.json), ``cli`` (``hand-perception replay`` / ``make-bag``).
"""

"""Thin rclpy adapters around the core; the only modules that import rclpy."""

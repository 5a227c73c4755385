"""rclpy objects from :mod:`hand_perception.core.node_logic` data: QoS profiles, parameter
declarations (descriptors with ranges and choices) and lifecycle publisher teardown. Used by
:mod:`hand_perception.nodes.common` and :mod:`hand_perception.nodes.parts`."""

from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

from hand_perception.core import node_logic as nl


def qos_profile(spec: nl.QosSpec) -> QoSProfile:
    """rclpy QoSProfile of a :class:`~hand_perception.core.node_logic.QosSpec`."""
    if spec == nl.SENSOR_DATA_QOS:
        return qos_profile_sensor_data
    return QoSProfile(
        reliability=ReliabilityPolicy.RELIABLE if spec.reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT,
        durability=(DurabilityPolicy.TRANSIENT_LOCAL if spec.durability == "transient_local"
                    else DurabilityPolicy.VOLATILE),
        history=HistoryPolicy.KEEP_LAST if spec.history == "keep_last" else HistoryPolicy.KEEP_ALL,
        depth=int(spec.depth),
    )


def parameter_descriptor(spec: nl.ParamSpec) -> ParameterDescriptor:
    """ParameterDescriptor with description, range (FloatingPointRange/IntegerRange) and choices."""
    desc = ParameterDescriptor(description=spec.describe(), read_only=bool(spec.read_only))
    if spec.choices:
        desc.additional_constraints = "one of: " + ", ".join(spec.choices)
    if spec.min is not None and spec.max is not None:
        if spec.type == "double":
            desc.floating_point_range = [FloatingPointRange(
                from_value=float(spec.min), to_value=float(spec.max), step=float(spec.step or 0.0))]
        elif spec.type == "integer":
            desc.integer_range = [IntegerRange(
                from_value=int(spec.min), to_value=int(spec.max), step=int(spec.step or 0))]
    return desc


def declare_parameters(node: Any, specs: tuple[nl.ParamSpec, ...]) -> list[str]:
    """Declare ``specs`` on ``node``. A value from a parameter file or the command line that has
    the wrong type or is out of range is reported and replaced by the default (the node still
    starts). Returns the problems found."""
    from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException

    problems = []
    for spec in specs:
        if node.has_parameter(spec.name):
            continue
        desc = parameter_descriptor(spec)
        try:
            node.declare_parameter(spec.name, spec.default, desc)
        except (InvalidParameterTypeException, InvalidParameterValueException, TypeError, ValueError) as exc:
            problems.append(f"parameter {spec.name}: {exc}; using the default {spec.default!r}")
            node.declare_parameter(spec.name, spec.default, desc, ignore_override=True)
    return problems


def parameter_values(node: Any, names: list[str]) -> dict[str, Any]:
    out = {}
    for name in names:
        value = node.get_parameter(name).value
        if isinstance(value, (list, tuple)) or type(value).__name__ == "array":
            value = list(value)
        out[name] = value
    return out


def destroy_lifecycle_publisher(node: Any, publisher: Any) -> None:
    """``destroy_lifecycle_publisher`` where rclpy has it (it also forgets the managed entity)."""
    if publisher is None:
        return
    destroy = getattr(node, "destroy_lifecycle_publisher", None)
    if destroy is not None:
        destroy(publisher)
    else:  # pragma: no cover - older rclpy
        node.destroy_publisher(publisher)


__all__ = ["declare_parameters", "destroy_lifecycle_publisher", "parameter_descriptor", "parameter_values",
           "qos_profile"]

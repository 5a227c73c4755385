"""An in-process stand-in for rclpy (no ROS on this machine), with the pytest fixtures and message
helpers the node tests share (tests/test_nodes_*stubbed.py, test_actions_node.py, test_forecast_fpha_node.py).

The stand-in is strict where rclpy is strict, so the node code is exercised the way Jazzy runs it:

* message classes are generated from the ROS 2 Jazzy ``.msg`` definitions (rosbags typestore,
  plus this project's messages) and check every field like rosidl_generator_py does (unknown
  constructor arguments, Python ``int``/``float``/``bool``/``str``, ``bytes`` of length 1 for
  ``byte``, numpy arrays of the exact dtype and size for fixed arrays, ``array.array`` or lists
  but not numpy for unbounded sequences, message types of nested fields);
* parameters are statically typed (an integer for a double parameter is an error), checked
  against the descriptor ranges, and double arrays come back as ``array.array('d')``;
* lifecycle transitions call ``on_configure``/``on_activate``/... and lifecycle publishers only
  publish while active;
* the context: nodes need ``rclpy.init()`` first, ``rclpy.shutdown()`` runs the context's
  ``on_shutdown`` callbacks after invalidating it, and publishing on an invalid context raises
  ``RCLError("publisher's context is invalid")`` (what Ctrl-C does under a working thread);
* the graph: ``node.subscriptions`` lists the live subscriptions, ``Subscription.topic_name`` is
  fully resolved, ``get_publishers_info_by_topic`` reports this node's and stand-in publishers.

Subscriptions are driven by calling their callbacks; timers by calling theirs. The real pipeline
(MediaPipe, placement, IK, temporal, forecaster) runs on a frame of the synthetic renderer.
Test modules import the fixtures by name (``ros``, ``rclpy_context`` (autouse), ``rendered``) and
``pytestmark``, the skip that applies where rclpy is installed.
The same node code is tested against real rclpy in ``tests/ros/`` where ROS 2 is installed.
"""

from __future__ import annotations

import array
import enum
import importlib
import importlib.util
import inspect
import sys
import threading
import time
import types
import weakref
from collections.abc import Sequence

import numpy as np
import pytest

# With ROS sourced the real thing is tested in tests/ros/. A marker, not a module-level
# pytest.skip: launch_testing's pytest plugin imports every test module during collection and a
# module-level skip taken there aborts the collection of the whole folder (tests/conftest.py).
pytestmark = pytest.mark.skipif(importlib.util.find_spec("rclpy") is not None,
                                reason="rclpy is installed: the nodes are tested for real in tests/ros/")

pytest.importorskip("rosbags")

from rosbags.typesys.base import Nodetype  # noqa: E402

from hand_perception.core.conversions import RosbagsTypes  # noqa: E402

_INT_RANGES = {
    "int8": (-(2**7), 2**7 - 1), "uint8": (0, 255), "int16": (-(2**15), 2**15 - 1), "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1), "uint32": (0, 2**32 - 1), "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1), "char": (0, 255),
}
_NP = {"float32": np.float32, "float64": np.float64, "int8": np.int8, "uint8": np.uint8, "int16": np.int16,
       "uint16": np.uint16, "int32": np.int32, "uint32": np.uint32, "int64": np.int64, "uint64": np.uint64,
       "bool": np.bool_, "byte": np.uint8, "char": np.uint8}
_TYPECODES = {"float32": "f", "float64": "d", "int8": "b", "uint8": "B", "int16": "h", "uint16": "H",
              "int32": "i", "uint32": "I", "int64": "q", "uint64": "Q"}


# =========================================================================== strict messages


def _check_base(typ: str, value, where: str) -> None:
    if typ == "bool":
        assert isinstance(value, bool), f"{where}: bool expected, got {type(value).__name__}"
    elif typ == "byte":
        assert isinstance(value, bytes) and len(value) == 1, f"{where}: bytes of length 1 expected, got {value!r}"
    elif typ in ("float32", "float64"):
        assert isinstance(value, float), f"{where}: float expected, got {type(value).__name__}"
    elif typ == "string":
        assert isinstance(value, str), f"{where}: str expected, got {type(value).__name__}"
    else:
        assert isinstance(value, int) and not isinstance(value, bool), f"{where}: int expected, got {type(value).__name__}"
        lo, hi = _INT_RANGES[typ]
        assert lo <= value <= hi, f"{where}: {value} out of {typ} range"


class MessageFactory:
    """Strict message classes for every type of a rosbags typestore."""

    def __init__(self, typestore) -> None:
        self.fielddefs = typestore.fielddefs
        self.classes: dict[str, type] = {}
        for name in self.fielddefs:
            self.classes[name] = self._make(name)

    def _default(self, spec):
        kind, sub = spec
        if kind == Nodetype.BASE:
            return {"bool": False, "byte": b"\x00", "string": "", "float32": 0.0, "float64": 0.0}.get(sub[0], 0)
        if kind == Nodetype.NAME:
            return self.classes[sub]()
        if kind == Nodetype.ARRAY:
            (ik, isub), n = sub
            if ik == Nodetype.BASE and isub[0] != "string":
                return np.zeros(n, dtype=_NP[isub[0]])
            return [self._default((ik, isub)) for _ in range(n)]
        (ik, isub), _ = sub
        if ik == Nodetype.BASE and isub[0] in _TYPECODES:
            return array.array(_TYPECODES[isub[0]])
        return []

    def _check(self, spec, value, where: str):
        kind, sub = spec
        if kind == Nodetype.BASE:
            _check_base(sub[0], value, where)
            return value
        if kind == Nodetype.NAME:
            assert isinstance(value, self.classes[sub]), f"{where}: {sub} expected, got {type(value).__name__}"
            return value
        (ik, isub), n = sub
        if kind == Nodetype.ARRAY and ik == Nodetype.BASE and isub[0] != "string":
            if isinstance(value, np.ndarray):
                assert value.dtype == _NP[isub[0]] and value.size == n, \
                    f"{where}: numpy {isub[0]}[{n}] expected, got {value.dtype}[{value.size}]"
                return value
            assert isinstance(value, (Sequence, list)) and len(value) == n, f"{where}: {n} values expected"
            for v in value:
                _check_base(isub[0], v, where)
            return np.array(value, dtype=_NP[isub[0]])
        if kind == Nodetype.SEQUENCE and ik == Nodetype.BASE and isub[0] in _TYPECODES:
            if isinstance(value, array.array):
                assert value.typecode == _TYPECODES[isub[0]], f"{where}: typecode {value.typecode}"
                return value
            assert not isinstance(value, np.ndarray), f"{where}: numpy arrays are rejected for {isub[0]}[] (use array.array)"
            assert isinstance(value, (Sequence, list, bytes)), f"{where}: sequence expected"
            for v in value:
                _check_base(isub[0], v, where)
            return array.array(_TYPECODES[isub[0]], value)
        assert isinstance(value, (list, tuple)), f"{where}: list expected, got {type(value).__name__}"
        if kind == Nodetype.SEQUENCE and n:
            assert len(value) <= n, f"{where}: at most {n} elements"
        if kind == Nodetype.ARRAY:
            assert len(value) == n, f"{where}: {n} elements expected"
        for v in value:
            self._check((ik, isub), v, where)
        return list(value)

    def _make(self, name: str) -> type:
        factory = self
        consts, fields = self.fielddefs[name]
        specs = dict(fields)

        def __init__(self, **kwargs):
            unknown = set(kwargs) - set(specs)
            assert not unknown, f"Invalid arguments passed to constructor of {name}: {sorted(unknown)}"
            for f, spec in fields:
                setattr(self, f, kwargs[f] if f in kwargs else factory._default(spec))

        def __setattr__(self, key, value):
            assert key in specs, f"{name} has no field {key!r}"
            object.__setattr__(self, key, factory._check(specs[key], value, f"{name}.{key}"))

        pkg, kind, typ = name.split("/")
        snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in typ)  # rosidl: _camera_info
        ns = {"__init__": __init__, "__setattr__": __setattr__, "__msgtype__": name,
              "__module__": f"{pkg}.{kind}.{snake}", "__repr__": lambda self: f"<{name}>"}
        for cname, ctype, cval in consts:
            ns[cname] = bytes([cval]) if ctype == "byte" else cval
        return type(name.rsplit("/", 1)[1], (), ns)

    def modules(self) -> dict[str, types.ModuleType]:
        mods: dict[str, types.ModuleType] = {}
        for name, cls in self.classes.items():
            pkg, kind, typ = name.split("/")
            if pkg not in mods:
                mods[pkg] = types.ModuleType(pkg)
                mods[pkg].__path__ = []
            mod = mods.setdefault(f"{pkg}.{kind}", types.ModuleType(f"{pkg}.{kind}"))
            setattr(mods[pkg], kind, mod)
            setattr(mod, typ, cls)
        return mods


# =========================================================================== rclpy stand-in


class TransitionCallbackReturn(enum.Enum):
    SUCCESS = 0
    FAILURE = 1
    ERROR = 2


class InvalidParameterTypeException(Exception):
    pass


class InvalidParameterValueException(Exception):
    pass


class ExternalShutdownException(Exception):
    pass


class NotInitializedException(Exception):
    pass


class RCLError(RuntimeError):
    """rclpy._rclpy_pybind11.RCLError: what rcl failures (an invalid context among them) raise."""


class Context:
    """rclpy.context.Context (Jazzy): ``ok()`` until shut down; ``on_shutdown`` callbacks run after
    the rcl context is shut down, as rclpy's ``Context.shutdown`` does, and like there they run
    holding the context's (non-reentrant) lock, which ``ok()`` takes too: another thread calling
    ``ok()`` meanwhile waits until the callbacks are done; the shutting-down thread itself calling
    it would hang rclpy, so here it raises. Bound methods are kept as weak references (rclpy's
    WeakMethod). ``_ok`` is the rcl context's validity (what publish checks, without the lock).
    Shutting down twice raises."""

    def __init__(self):
        self._ok = False
        self._callbacks = []
        self._lock = threading.Lock()
        self._lock_owner = None

    def init(self, args=None):
        if self._ok:
            raise RuntimeError("Context.init() must only be called once")
        self._ok = True

    def _locked(self):
        assert self._lock_owner != threading.get_ident(), \
            "Context.ok()/on_shutdown() inside an on_shutdown callback: rclpy would deadlock on the context's lock"
        self._lock.acquire()
        self._lock_owner = threading.get_ident()

    def _unlock(self):
        self._lock_owner = None
        self._lock.release()

    def ok(self):
        self._locked()
        try:
            return self._ok
        finally:
            self._unlock()

    def on_shutdown(self, callback):
        if not callable(callback):
            raise TypeError(f"callback should be a callable, got {type(callback)}")
        self._locked()
        try:
            if not self._ok:
                callback()
            else:
                self._callbacks.append(weakref.WeakMethod(callback) if inspect.ismethod(callback) else callback)
        finally:
            self._unlock()

    def shutdown(self):
        if not self._ok:
            raise RCLError("rcl_shutdown already called on the given context")
        self._locked()
        try:
            self._ok = False
            callbacks, self._callbacks = self._callbacks, []
            for cb in callbacks:
                cb = cb() if isinstance(cb, weakref.WeakMethod) else cb
                if cb is not None:
                    cb()
        finally:
            self._unlock()

    def try_shutdown(self):
        if self._ok:
            self.shutdown()


class _Rclpy:
    """Module-level state of the stand-in: the default context (replaced by a fresh one when it
    is shut down, as rclpy.utilities does) and the graph's publishers on other nodes."""

    context = Context()
    #: topic -> list of (node_name, node_namespace, type) of publishers outside the tested node
    graph_publishers: dict[str, list[tuple[str, str, str]]] = {}

    @classmethod
    def init(cls, args=None, context=None):
        (context or cls.context).init(args)

    @classmethod
    def ok(cls, context=None):
        return (context or cls.context).ok()

    @classmethod
    def shutdown(cls, context=None):
        ctx = context or cls.context
        ctx.shutdown()
        if context is None:
            cls.context = Context()

    @classmethod
    def try_shutdown(cls, context=None):
        ctx = context or cls.context
        ctx.try_shutdown()
        if context is None:
            cls.context = Context()


class Logger:
    def __init__(self) -> None:
        self.records: list[tuple[str, str]] = []

    def _log(self, level: str, msg: str) -> None:
        self.records.append((level, str(msg)))

    def debug(self, m):
        self._log("debug", m)

    def info(self, m):
        self._log("info", m)

    def warning(self, m):
        self._log("warning", m)

    def error(self, m):
        self._log("error", m)

    def text(self, level: str) -> str:
        return "\n".join(m for lv, m in self.records if lv == level)


class Timer:
    def __init__(self, period, callback):
        self.period, self.callback, self.canceled, self.destroyed = period, callback, False, False

    def cancel(self):
        self.canceled = True

    def fire(self):
        if not self.canceled and not self.destroyed:
            self.callback()


class Publisher:
    def __init__(self, node, msg_type, topic, qos):
        self.node, self.msg_type, self.topic, self.qos = node, msg_type, topic, qos
        self.messages: list = []
        self.destroyed = False

    def publish(self, msg):
        assert not self.destroyed, f"publish on destroyed publisher {self.topic}"
        assert isinstance(msg, self.msg_type), f"{self.topic}: {type(msg).__name__} is not {self.msg_type.__name__}"
        if not self.node.context._ok:  # rcl_publish checks the rcl context (no Python lock)
            raise RCLError("publisher's context is invalid, at ./src/rcl/publisher.c:423")
        self.messages.append(msg)


class LifecyclePublisher(Publisher):
    """rclpy.lifecycle.LifecyclePublisher: publish() while not activated drops the message silently
    (SimpleManagedEntity.when_enabled); the drops are counted here for the tests."""

    enabled = False
    dropped_inactive = 0

    def publish(self, msg):
        if not self.enabled:
            self.dropped_inactive += 1
            return
        super().publish(msg)


class Subscription:
    def __init__(self, msg_type, topic, callback, qos, node=None):
        self.msg_type, self.topic, self.callback, self.qos = msg_type, topic, callback, qos
        self.destroyed = False
        self._node = node

    @property
    def topic_name(self):
        """Fully resolved name, like rclpy's (relative names go under the node's namespace)."""
        if self.topic.startswith("/"):
            return self.topic
        return f"{self._node._namespace.rstrip('/')}/{self.topic}"


class ParameterValue:
    def __init__(self, name, value):
        self.name, self.value = name, value


def _ptype(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "double"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (list, tuple)):
        return "array:" + ",".join(sorted({_ptype(x) for x in v}))
    return type(v).__name__


class Parameter:
    def __init__(self, name, type_=None, value=None):
        self.name, self.value = name, value


class Clock:
    def now(self):
        return types.SimpleNamespace(nanoseconds=time.time_ns())


class LifecycleNode:
    """The parts of rclpy.lifecycle.Node the nodes use, with rclpy's checks."""

    def __init__(self, node_name, *, context=None, parameter_overrides=None, namespace="", cli_args=None, **kwargs):
        self._context = context or _Rclpy.context
        if not self._context.ok():  # rclpy: a node needs an initialised context
            raise NotInitializedException("cannot create node")
        self._name = node_name
        self._namespace = "/" + namespace.strip("/") if namespace.strip("/") else "/"
        self._overrides = {p.name: p.value for p in (parameter_overrides or [])}
        self._params: dict[str, object] = {}
        self._descriptors: dict[str, object] = {}
        self._logger = Logger()
        self.timers: list[Timer] = []
        self.publishers: list[Publisher] = []
        self._subscriptions: list[Subscription] = []
        self.services: list = []  # live services (rclpy's node.services)
        self._managed: list[LifecyclePublisher] = []
        self.lifecycle_state = "unconfigured"
        self.destroyed = False

    # parameters
    def declare_parameter(self, name, value=None, descriptor=None, ignore_override=False):
        from rcl_interfaces.msg import ParameterDescriptor

        assert name not in self._params, f"parameter {name} already declared"
        assert descriptor is None or isinstance(descriptor, ParameterDescriptor)
        if value is None and descriptor is not None and not descriptor.dynamic_typing:
            # rclpy: 'Cannot declare a statically typed parameter with default value of type PARAMETER_NOT_SET'
            # (with neither value nor descriptor it declares a dynamically typed parameter, deprecated)
            raise ValueError(f"{name}: cannot declare a statically typed parameter with a None default")
        final = value
        if not ignore_override and name in self._overrides:
            final = self._overrides[name]
            if _ptype(final) != _ptype(value):
                raise InvalidParameterTypeException(f"Trying to set parameter '{name}' to {final!r} of type "
                                                    f"{_ptype(final)}, expecting type {_ptype(value)}")
        # rclpy applies the descriptor to whatever value is declared (the default included); the
        # range is inclusive and an integer range's non-zero step must divide (value - from_value)
        for r in (descriptor.floating_point_range if descriptor else []):
            if not r.from_value <= final <= r.to_value:
                raise InvalidParameterValueException(f"{name}: {final} not in range")
        for r in (descriptor.integer_range if descriptor else []):
            if not r.from_value <= final <= r.to_value:
                raise InvalidParameterValueException(f"{name}: {final} not in range")
            if r.step and final not in (r.from_value, r.to_value) and (final - r.from_value) % r.step:
                raise InvalidParameterValueException(f"{name}: {final} is not a valid step")
        self._params[name] = final
        self._descriptors[name] = descriptor
        return ParameterValue(name, final)

    def has_parameter(self, name):
        return name in self._params

    def get_parameter(self, name):
        v = self._params[name]
        if isinstance(v, list) and v and all(isinstance(x, float) for x in v):
            v = array.array("d", v)  # what rclpy returns for double arrays
        return ParameterValue(name, v)

    # entities
    def create_timer(self, timer_period_sec, callback, callback_group=None, clock=None, autostart=True):
        t = Timer(timer_period_sec, callback)
        t.clock = clock
        self.timers.append(t)
        return t

    def destroy_timer(self, timer):
        timer.destroyed = True
        return True

    def create_publisher(self, msg_type, topic, qos_profile, *, callback_group=None, event_callbacks=None,
                         qos_overriding_options=None, publisher_class=None):
        p = (publisher_class or Publisher)(self, msg_type, topic, qos_profile)
        self.publishers.append(p)
        return p

    def create_lifecycle_publisher(self, *args, **kwargs):
        if "publisher_class" in kwargs:  # rclpy refuses it here
            raise TypeError("create_publisher() got an unexpected keyword argument 'publisher_class'")
        p = self.create_publisher(*args, **kwargs, publisher_class=LifecyclePublisher)
        self._managed.append(p)
        return p

    def destroy_publisher(self, publisher):
        publisher.destroyed = True
        return True

    def destroy_lifecycle_publisher(self, publisher):
        if publisher in self._managed:
            self._managed.remove(publisher)
        return self.destroy_publisher(publisher)

    def create_subscription(self, msg_type, topic, callback, qos_profile, *, callback_group=None,
                            event_callbacks=None, qos_overriding_options=None, raw=False):
        s = Subscription(msg_type, topic, callback, qos_profile, node=self)
        s.callback_group = callback_group
        self._subscriptions.append(s)
        return s

    def create_service(self, srv_type, srv_name, callback, *, qos_profile=None, callback_group=None):
        s = types.SimpleNamespace(srv_type=srv_type, srv_name=srv_name, callback=callback, destroyed=False)
        self.services.append(s)
        return s

    def destroy_service(self, service):
        if service in self.services:
            self.services.remove(service)
            service.destroyed = True
            return True
        return False

    def destroy_subscription(self, sub):
        sub.destroyed = True
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)
            return True
        return False

    @property
    def subscriptions(self):
        """The live subscriptions (rclpy forgets destroyed ones)."""
        return list(self._subscriptions)

    @property
    def context(self):
        return self._context

    def get_publishers_info_by_topic(self, topic_name, no_mangle=False):
        """TopicEndpointInfo-like records of the publishers on ``topic_name`` (this node's and
        the stand-in graph's)."""
        assert topic_name.startswith("/"), "the tested node passes fully resolved names"
        out = [types.SimpleNamespace(node_name=self._name, node_namespace=self._namespace,
                                     topic_type=p.msg_type.__msgtype__)
               for p in self.publishers if not p.destroyed and self._resolve(p.topic) == topic_name]
        out += [types.SimpleNamespace(node_name=n, node_namespace=ns, topic_type=t)
                for n, ns, t in _Rclpy.graph_publishers.get(topic_name, [])]
        return out

    def _resolve(self, topic):
        return topic if topic.startswith("/") else f"{self._namespace.rstrip('/')}/{topic}"

    # misc
    def get_logger(self):
        return self._logger

    def get_clock(self):
        return Clock()

    def get_name(self):
        return self._name

    def get_fully_qualified_name(self):
        return f"{self._namespace.rstrip('/')}/{self._name}"

    def get_namespace(self):
        return self._namespace

    def destroy_node(self):
        self.destroyed = True

    # lifecycle
    def on_activate(self, state):
        for p in self._managed:
            p.enabled = True
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state):
        for p in self._managed:
            p.enabled = False
        return TransitionCallbackReturn.SUCCESS

    def _transition(self, cb, ok_state, fail_state):
        try:
            ret = cb(types.SimpleNamespace(label=self.lifecycle_state, state_id=0))
        except Exception:  # rclpy: an exception is ERROR, then on_error
            ret = TransitionCallbackReturn.ERROR
        if ret == TransitionCallbackReturn.SUCCESS:
            self.lifecycle_state = ok_state
        elif ret == TransitionCallbackReturn.FAILURE:
            self.lifecycle_state = fail_state
        else:
            err = self.on_error(types.SimpleNamespace(label=self.lifecycle_state, state_id=0))
            self.lifecycle_state = "unconfigured" if err == TransitionCallbackReturn.SUCCESS else "finalized"
        return ret

    def trigger_configure(self):
        assert self.lifecycle_state == "unconfigured"
        return self._transition(self.on_configure, "inactive", "unconfigured")

    def trigger_activate(self):
        assert self.lifecycle_state == "inactive"
        return self._transition(self.on_activate, "active", "inactive")

    def trigger_deactivate(self):
        assert self.lifecycle_state == "active"
        return self._transition(self.on_deactivate, "inactive", "active")

    def trigger_cleanup(self):
        assert self.lifecycle_state == "inactive"
        return self._transition(self.on_cleanup, "unconfigured", "inactive")

    def trigger_shutdown(self):
        return self._transition(self.on_shutdown, "finalized", "finalized")

    def on_error(self, state):
        return TransitionCallbackReturn.SUCCESS


class TransformBroadcaster:
    def __init__(self, node, qos=None):
        from tf2_msgs.msg import TFMessage

        self.pub_tf = node.create_publisher(TFMessage, "/tf", qos)

    def sendTransform(self, transform):  # noqa: N802 - tf2_ros API
        from tf2_msgs.msg import TFMessage

        transforms = transform if isinstance(transform, list) else [transform]
        self.pub_tf.publish(TFMessage(transforms=transforms))


def _fake_ros_modules() -> dict[str, types.ModuleType]:
    mods = MessageFactory(RosbagsTypes().typestore).modules()
    rclpy = types.ModuleType("rclpy")  # noqa: F811 - the stand-in
    rclpy.__path__ = []
    rclpy.init = _Rclpy.init
    rclpy.ok = _Rclpy.ok
    rclpy.shutdown = _Rclpy.shutdown
    rclpy.try_shutdown = _Rclpy.try_shutdown
    lifecycle = types.ModuleType("rclpy.lifecycle")
    lifecycle.Node = LifecycleNode
    lifecycle.LifecycleNode = LifecycleNode
    lifecycle.State = types.SimpleNamespace
    lifecycle.TransitionCallbackReturn = TransitionCallbackReturn
    qos = types.ModuleType("rclpy.qos")

    class QoSProfile:
        def __init__(self, **kw):
            self.__dict__.update(kw)

    qos.QoSProfile = QoSProfile
    qos.ReliabilityPolicy = enum.Enum("ReliabilityPolicy", "RELIABLE BEST_EFFORT")
    qos.DurabilityPolicy = enum.Enum("DurabilityPolicy", "VOLATILE TRANSIENT_LOCAL")
    qos.HistoryPolicy = enum.Enum("HistoryPolicy", "KEEP_LAST KEEP_ALL")
    qos.qos_profile_sensor_data = QoSProfile(reliability=qos.ReliabilityPolicy.BEST_EFFORT, depth=5)
    clock = types.ModuleType("rclpy.clock")
    clock.ClockType = enum.Enum("ClockType", "ROS_TIME SYSTEM_TIME STEADY_TIME")

    class FakeClock(Clock):
        def __init__(self, clock_type=None):
            self.clock_type = clock_type

    clock.Clock = FakeClock
    executors = types.ModuleType("rclpy.executors")
    executors.SingleThreadedExecutor = object
    executors.ExternalShutdownException = ExternalShutdownException
    exceptions = types.ModuleType("rclpy.exceptions")
    exceptions.InvalidParameterTypeException = InvalidParameterTypeException
    exceptions.InvalidParameterValueException = InvalidParameterValueException
    tf2 = types.ModuleType("tf2_ros")
    tf2.TransformBroadcaster = TransformBroadcaster
    rclpy.lifecycle, rclpy.qos, rclpy.executors, rclpy.exceptions = lifecycle, qos, executors, exceptions
    rclpy.clock = clock
    mods.update({"rclpy": rclpy, "rclpy.lifecycle": lifecycle, "rclpy.qos": qos, "rclpy.executors": executors,
                 "rclpy.clock": clock,
                 "rclpy.exceptions": exceptions, "tf2_ros": tf2})
    return mods


NODE_MODULES = ("hand_perception.nodes.ros_params", "hand_perception.nodes.parts",
                "hand_perception.nodes.common", "hand_perception.nodes.hand_estimator",
                "hand_perception.nodes.hand_forecaster", "hand_perception.nodes.hand_perception_node")


@pytest.fixture(scope="module")
def ros():
    """Install the stand-in modules, import the node modules against them, remove all after."""
    fakes = _fake_ros_modules()
    saved = {k: sys.modules.get(k) for k in list(fakes) + list(NODE_MODULES)}
    sys.modules.update(fakes)
    for m in NODE_MODULES:
        sys.modules.pop(m, None)
    try:
        yield types.SimpleNamespace(
            est=importlib.import_module("hand_perception.nodes.hand_estimator"),
            fc=importlib.import_module("hand_perception.nodes.hand_forecaster"),
            both=importlib.import_module("hand_perception.nodes.hand_perception_node"),
            common=importlib.import_module("hand_perception.nodes.common"),
            msgs=fakes,
        )
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


@pytest.fixture(autouse=True)
def rclpy_context():
    """``rclpy.init()`` before each test (rclpy refuses to create nodes without it) and
    ``rclpy.try_shutdown()`` after, like one process per test; the stand-in graph is emptied."""
    if not _Rclpy.ok():
        _Rclpy.init()
    yield
    _Rclpy.graph_publishers.clear()
    _Rclpy.try_shutdown()


# =========================================================================== helpers

T0 = 1_700_000_000 * 10**9


@pytest.fixture(scope="module")
def rendered():
    render = pytest.importorskip("hand_models.render")
    return list(render.render_sequence(3, width=320, height=240, fps=30.0, seed=3))


def _time(ros, ns: int):
    return ros.msgs["builtin_interfaces.msg"].Time(sec=ns // 10**9, nanosec=ns % 10**9)


def _header(ros, ns: int, frame="cam"):
    return ros.msgs["std_msgs.msg"].Header(stamp=_time(ros, ns), frame_id=frame)


def image_msg(ros, rgb, ns, **change):
    from hand_perception.core.image_codec import encode_image

    f = {**encode_image(rgb, "bgr8", row_padding=4), **change}
    return ros.msgs["sensor_msgs.msg"].Image(
        header=_header(ros, ns), height=int(f["height"]), width=int(f["width"]), encoding=f["encoding"],
        is_bigendian=int(f["is_bigendian"]), step=int(f["step"]), data=f["data"].tobytes())


def compressed_msg(ros, rgb, ns):
    from hand_perception.core.image_codec import encode_compressed_image

    f = encode_compressed_image(rgb, "jpeg")
    return ros.msgs["sensor_msgs.msg"].CompressedImage(header=_header(ros, ns), format=f["format"],
                                                       data=f["data"].tobytes())


def info_msg(ros, K, ns, w=320, h=240, nan=False):
    k = np.asarray(K, dtype=np.float64).reshape(-1).copy()
    if nan:
        k[0] = np.nan
    return ros.msgs["sensor_msgs.msg"].CameraInfo(header=_header(ros, ns), width=w, height=h,
                                                  distortion_model="plumb_bob", d=[0.0] * 5, k=k)


def sub(node, topic):
    subs = [s for s in node.subscriptions if s.topic == topic and not s.destroyed]
    assert len(subs) == 1, f"{topic}: {[s.topic for s in node.subscriptions if not s.destroyed]}"
    return subs[0]


def pub(node, topic):
    pubs = [p for p in node.publishers if p.topic == topic and not p.destroyed]
    assert len(pubs) == 1, topic
    return pubs[0]


def wait(cond, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return False


def _diag(node):
    """Fire the diagnostics timer; the status it published."""
    timer = [t for t in node.timers if t.period == node.params["diagnostics_period_s"] and not t.destroyed][-1]
    timer.fire()
    return pub(node, "/diagnostics").messages[-1].status[0]


def _active_estimator(ros, **params):
    overrides = [Parameter("autostart", value=False), Parameter("queue_size", value=10),
                 *(Parameter(k, value=v) for k, v in params.items() if k != "namespace")]
    node = ros.est.HandEstimatorNode(parameter_overrides=overrides, namespace=params.get("namespace", ""))
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS, node.get_logger().text("error")
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    return node


def main_interrupted_mid_frame(ros, rendered, monkeypatch, interrupt):
    """Run ``hand_estimator.main([])`` as a fresh process would (rclpy not initialised yet) with an
    executor whose ``spin`` autostarts the node, sends one frame and, while the model is inside
    that frame, calls ``interrupt(node, gate)`` (``gate.set()`` lets the model finish; ``interrupt``
    may raise, e.g. KeyboardInterrupt). Returns the node and the exceptions raised in threads."""
    _Rclpy.try_shutdown()  # a fresh process: run_node initialises rclpy itself
    thread_errors = []
    monkeypatch.setattr(threading, "excepthook", thread_errors.append)
    seen = {}

    class Exec:
        def add_node(self, node):
            self.node = node

        def spin(self):
            node = seen["node"] = self.node
            node.timers[0].fire()  # autostart
            assert node.lifecycle_state == "active", node.get_logger().text("error")
            inside, gate = threading.Event(), threading.Event()
            real = node.pipeline.estimator.process

            def blocked(*a, **kw):
                inside.set()
                gate.wait(10)
                return real(*a, **kw)

            node.pipeline.estimator.process = blocked
            sub(node, "image").callback(image_msg(ros, rendered[0].image, T0))
            assert inside.wait(10)
            interrupt(node, gate)

    monkeypatch.setattr(ros.common, "SingleThreadedExecutor", Exec)
    assert ros.est.main([]) == 0
    return seen["node"], thread_errors

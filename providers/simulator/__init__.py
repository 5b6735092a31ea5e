"""Fake provider servers that answer like the real APIs, scriptable per destination number."""

from providers.simulator.app import SimulatorConfig, build_app, serve
from providers.simulator.state import ScriptedAnswer, SimulatorState

__all__ = ["ScriptedAnswer", "SimulatorConfig", "SimulatorState", "build_app", "serve"]

"""gridsim: an agent-based simulation of urban grid governance (网格化管理) on Mesa."""

__version__ = "0.1.0"

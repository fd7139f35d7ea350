"""numlake: the data lake of the national number-resource sharing platform."""

__version__ = "0.1.0"

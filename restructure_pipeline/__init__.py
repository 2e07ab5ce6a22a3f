"""Restructure a legacy ``Customer`` table into ``Company`` and ``Prospect`` with Dagster."""

__version__ = "0.1.0"

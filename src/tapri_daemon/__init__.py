"""tapri-daemon: a workflow scheduler in one asyncio process."""

__version__ = "0.1.0"

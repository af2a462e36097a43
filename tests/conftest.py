"""Shared fixtures. pytest-asyncio runs in auto mode; anyio's plugin is disabled."""

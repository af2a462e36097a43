"""The `tapri` command: a thin composition root over the library."""

"""Benchmarks, run by ``superhf bench ...``: speed, memory and quality figures for the issue
notes. Nothing in the engine or the desktop imports them, and the desktop bundle leaves them out."""

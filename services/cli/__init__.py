"""Command line: `python -m services.cli ...` (shares every function with the app)."""

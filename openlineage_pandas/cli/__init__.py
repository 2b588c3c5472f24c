"""Command-line interface: `openlineage-pandas run|summary|replay|status`.

Each sub-command lives in its own module exposing `register(subparsers)`; `main` only wires them.
"""

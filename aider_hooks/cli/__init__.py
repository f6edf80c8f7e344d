"""The command-line edge: arguments, the terminal, exit codes. One module per command."""

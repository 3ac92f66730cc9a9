"""One module per `sim` subcommand; each defines register(subparsers) and sets `func` on its parser."""

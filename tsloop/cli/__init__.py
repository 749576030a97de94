"""The ``tsloop`` command line. Each sub-command lives in its own module with a
``register(subparsers)`` function; heavy imports stay inside the handlers so
``tsloop --help`` is fast."""

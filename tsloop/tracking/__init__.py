"""Everything MLflow: where runs go (``store``), the training logger (``logger``), what a run
records (``record``), training with a record (``training``), reading runs back and syncing
them (``runs``), and the pyfunc flavour (``pyfunc``).

The store functions are re-exported here: ``from tsloop import tracking; tracking.tracking_uri()``.
"""

from tsloop.tracking.store import (  # noqa: F401 (re-exported)
    artifact_location,
    local_tracking_uri,
    mlruns_dir,
    probe_server,
    tracking_uri,
    ui_command,
)

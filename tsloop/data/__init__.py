"""The typed telemetry data layer: task specs, readers, validation, scaling, splits, windows.

Training code starts from :func:`tsloop.data.task.load_task`::

    from tsloop.data.task import load_task

    task = load_task("tasks/epf_np.yaml")          # or load_task(spec, frame=df)
    train, val = task.dataset("train"), task.dataset("val", stride=24)   # torch Datasets
    dims = task.dims                                 # ChannelDims for the model
    y = task.scaler.inverse_transform(pred, batch["series_index"], role="target")
    request = task.predict_batch(history_df, future_df)  # or windows.make_predict_batch(spec, scaler, ...)

Modules, by role: ``spec`` (TaskSpec), ``paths`` (data root), ``readers`` (files/frames to
arrays), ``sources`` (named dataset loaders), ``validate`` and ``leakage`` (checks),
``split``, ``scaling``, ``windows`` (batch contract), ``task`` (all of it together),
``gluonts_io`` (GluonTS datasets), ``batch`` (the contract itself).
"""

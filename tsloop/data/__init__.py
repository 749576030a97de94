"""The typed telemetry data layer: task specs, readers, validation, scaling, splits, windows.

Training code starts from :func:`tsloop.data.task.load_task` (a runnable example is in
:mod:`tsloop.data.task`): a task file, or a :class:`~tsloop.data.spec.TaskSpec` with an in-memory
frame, becomes a task whose ``dataset(part)`` gives torch Datasets in the batch contract, whose
``dims`` size the model, whose ``scaler`` takes model outputs back to data units, and whose
``predict_batch(history, future)`` builds the batch of a forecast request.

Modules, by role: ``spec`` (TaskSpec), ``paths`` (data root), ``readers`` (files/frames to
arrays), ``sources`` (named dataset loaders), ``validate`` and ``leakage`` (checks),
``split``, ``scaling``, ``windows`` (batch contract), ``task`` (all of it together),
``gluonts_io`` (GluonTS datasets), ``batch`` (the contract itself).
"""

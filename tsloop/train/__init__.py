"""Lightning training of the world model, tracked in MLflow."""

"""realign-pipeline: train, operate and reproduce ReAlign, a CLIP detector of AI-generated images.

The library holds all stage logic as plain functions over paths and typed config; the `realign`
CLI, the DVC stages, and the Prefect tasks/flows only wire them together.
"""

__version__ = "0.1.0"
